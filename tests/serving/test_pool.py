"""The worker pool (core.serving): real worker processes running the targets in tests/serving/targets.py."""
import os
import subprocess
import sys
import threading
import time

import pytest

from core.errors import InputError
from core.serving import BudgetExceeded, InlinePool, JobCancelled, WorkerDied, WorkerPool

TARGETS = "tests.serving.targets"


def gone(pid: int, within_s: float = 5.0) -> bool:
    """True once `pid` no longer runs (or is a zombie nobody reaps: not ours to reap here)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def pool():
    workers = WorkerPool(1, name="test", threads=1)
    workers.warm_up()
    yield workers
    workers.close()


def test_a_call_returns_its_result_from_another_process_and_the_worker_is_reused(pool):
    assert pool.call(f"{TARGETS}:add", 2, b=3, budget_s=30) == 5
    first = pool.call(f"{TARGETS}:whoami", budget_s=30)
    assert first != os.getpid() and first in pool.pids()
    assert pool.call(f"{TARGETS}:whoami", budget_s=30) == first  # models stay loaded in a kept worker


def test_progress_streams_back_and_user_errors_keep_their_type_and_text(pool):
    reports = []
    assert pool.call(f"{TARGETS}:count_to", 4, budget_s=30, progress=lambda *r: reports.append(r)) == 4
    assert reports == [(i, 4, "counting") for i in range(1, 5)]
    worker = pool.call(f"{TARGETS}:whoami", budget_s=30)
    with pytest.raises(InputError, match="^a named problem$"):
        pool.call(f"{TARGETS}:refuse", "a named problem", budget_s=30)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        pool.call(f"{TARGETS}:crash", budget_s=30)
    assert pool.call(f"{TARGETS}:add", 1, 1, budget_s=30) == 2
    assert pool.call(f"{TARGETS}:whoami", budget_s=30) == worker  # the same worker, models and all, lived through both


def test_past_its_budget_a_job_is_killed_with_its_children_and_the_worker_replaced(pool, tmp_path):
    before = pool.pids()
    pid_file = tmp_path / "child.pid"
    start = time.monotonic()
    with pytest.raises(BudgetExceeded, match="time budget of 1.5 seconds"):
        pool.call(f"{TARGETS}:sleep_with_child", 60, str(pid_file), budget_s=1.5)
    assert time.monotonic() - start < 5
    assert gone(int(pid_file.read_text()))  # the worker's child (as ffmpeg would be) ended too
    assert gone(before[0])
    assert pool.call(f"{TARGETS}:add", 2, 2, budget_s=60) == 4 and pool.pids() != before


def test_a_cancelled_job_stops_at_once(pool, tmp_path):
    pid_file = tmp_path / "child.pid"
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(JobCancelled):
        pool.call(f"{TARGETS}:sleep_with_child", 60, str(pid_file), budget_s=60, cancelled=cancel.is_set)
    assert time.monotonic() - start < 3
    assert gone(int(pid_file.read_text()))
    assert pool.call(f"{TARGETS}:add", 3, 3, budget_s=60) == 6


def test_a_worker_killed_mid_job_gives_a_clear_message_and_the_next_call_succeeds(pool, tmp_path):
    worker = pool.pids()[0]
    threading.Timer(1.0, lambda: os.kill(worker, 9)).start()
    with pytest.raises(WorkerDied, match="stopped unexpectedly .* It has been replaced"):
        pool.call(f"{TARGETS}:sleep_with_child", 30, str(tmp_path / "child.pid"), budget_s=60)
    assert pool.call(f"{TARGETS}:add", 4, 4, budget_s=60) == 8


def test_a_worker_that_died_while_idle_is_replaced_unseen(pool):
    worker = pool.pids()[0]
    os.kill(worker, 9)
    assert gone(worker)
    assert pool.call(f"{TARGETS}:whoami", budget_s=60) != worker


def test_stop_asks_the_target_to_finish_and_emitted_items_arrive_in_order(pool):
    assert pool.call(f"{TARGETS}:add", 0, 0, budget_s=60) == 0  # a started worker: the target runs at once
    stop, items = threading.Event(), []
    threading.Timer(0.5, stop.set).start()
    steps = pool.call(f"{TARGETS}:until_stopped", budget_s=60, stop=stop, emit=items.append)
    assert 1 <= steps < 600 and items == list(range(1, steps + 1))
    early = threading.Event()
    early.set()  # a stop sent before its call starts still reaches it
    assert pool.call(f"{TARGETS}:until_stopped", budget_s=60, stop=early) == 0


def test_workers_end_with_the_server_that_started_them(tmp_path):
    script = (
        "import sys; sys.path.insert(0, %r)\n"
        "from core.serving import WorkerPool\n"
        "p = WorkerPool(1, threads=1); p.warm_up(); print(p.pids()[0], flush=True)\n"
        "import time; time.sleep(60)\n"
    ) % str(os.getcwd())
    server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    worker = int(server.stdout.readline())
    server.kill()
    server.wait()
    assert gone(worker, within_s=5)


def test_the_inline_pool_runs_in_this_process_with_the_same_interface():
    reports = []
    inline = InlinePool()
    assert inline.call(f"{TARGETS}:whoami", budget_s=1) == os.getpid()
    assert inline.call(f"{TARGETS}:count_to", 2, budget_s=1, progress=lambda *r: reports.append(r)) == 2
    assert reports == [(1, 2, "counting"), (2, 2, "counting")]


def test_a_callers_precision_travels_with_its_call_and_ends_with_it(pool):
    from core import runtime

    assert pool.call(f"{TARGETS}:precision", budget_s=30) == "fp32"
    if not runtime.bf16_supported():  # the worker judges its own CPU
        pytest.skip("this CPU has no bf16 instructions")
    with runtime.precision_scope("bf16"):
        assert pool.call(f"{TARGETS}:precision", budget_s=30) == "bf16"
    assert pool.call(f"{TARGETS}:precision", budget_s=30) == "fp32"  # the worker forgets it with the call
