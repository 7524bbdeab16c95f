"""The application registry is the one list everything else reads."""
import importlib

from core import nets, weights
from core.apps import ORDER, apps, get


def test_every_application_is_complete_and_consistent():
    seen_endpoints = set()
    for app in apps():
        assert app.name and app.title and app.description and app.demo
        assert app.name in ORDER, f"{app.name} has no place in the gallery order"
        assert importlib.import_module(app.core_module)
        for endpoint in app.endpoints:
            assert endpoint not in seen_endpoints, f"endpoint {endpoint} is declared twice"
            seen_endpoints.add(endpoint)
        for net in app.networks:
            assert net in nets.names(), f"{app.name}: unknown network {net}"
        for name in app.weights:
            assert weights.spec(name).architecture in app.every_network(), f"{app.name}: weights {name} fit no network of the app"


def test_get_refuses_an_unknown_name_with_the_known_ones():
    try:
        get("no_such_app")
    except KeyError as exc:
        assert "digits" in str(exc)
    else:
        raise AssertionError("get() accepted an unknown name")


def test_every_weight_spec_names_a_registered_network():
    for spec in weights.specs():
        assert spec.architecture in nets.names(), spec.name
        assert spec.url or spec.hf_repo or spec.bundled or spec.packaged, f"{spec.name} has no source at all"
