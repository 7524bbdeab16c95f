"""The worker's model cache: built once, kept by recent use within a byte budget."""
import threading

import numpy as np
import paddle

from core.runtime import DygraphRunner, ModelCache, parameter_bytes


def layer(units: int) -> paddle.nn.Layer:
    return paddle.nn.Linear(units, units, bias_attr=False)  # units² float32 weights


def test_models_are_measured_by_their_weights():
    assert parameter_bytes(layer(64)) == 64 * 64 * 4
    assert parameter_bytes(DygraphRunner(layer(32))) == 32 * 32 * 4


def test_the_least_recently_used_model_is_dropped_past_the_byte_budget():
    cache = ModelCache(max_bytes=3 * 64 * 64 * 4)  # room for three
    built = []

    def build(name):
        built.append(name)
        return layer(64)

    for name in "abc":
        cache.get(name, lambda n=name: build(n))
    cache.get("a", lambda: build("a again"))  # a is now the most recent
    cache.get("d", lambda: build("d"))
    assert cache.loaded() == ["c", "a", "d"] and built == ["a", "b", "c", "d"]
    assert cache.loaded_bytes() == 3 * 64 * 64 * 4


def test_a_model_larger_than_the_budget_is_still_kept_alone():
    cache = ModelCache(max_bytes=100)
    cache.get("small", lambda: np.zeros(10, np.float32))
    big = cache.get("big", lambda: layer(64))
    assert cache.loaded() == ["big"] and cache.get("big", lambda: None) is big


def test_concurrent_first_requests_build_once():
    cache, builds = ModelCache(), []
    barrier = threading.Barrier(8)

    def request():
        barrier.wait()
        cache.get("shared", lambda: builds.append(1) or layer(8))

    threads = [threading.Thread(target=request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert builds == [1]
