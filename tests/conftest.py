"""Shared test set-up: Hypothesis profiles and the one backend fixture.

Profiles (choose with HYPOTHESIS_PROFILE=...): `ci` (default, fast), `dev`
(more examples), `thorough` (many examples, for a deliberate deep check).
Every test that takes `device` runs once per available backend: 'cpu' always,
'cuda' where CuPy finds a GPU.
"""
import os

import pytest
from hypothesis import HealthCheck, settings

import minigrad as mg

settings.register_profile("ci", max_examples=15, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=400, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

DEVICES = ["cpu"] + (["cuda"] if mg.cuda_available() else [])


@pytest.fixture(params=DEVICES, scope="session")
def device(request):
    """Each available backend in turn ('cpu', and 'cuda' on a GPU machine)."""
    return request.param


@pytest.fixture(autouse=True)
def _seed_and_defaults():
    """Every test starts from the same seed, float32 default, grad mode on."""
    mg.manual_seed(0)
    mg.set_default_dtype("float32")
    yield
    mg.set_default_dtype("float32")


def _runs_on_gpu(item) -> bool:
    """Does this test exercise the GPU (when there is one)? Its `device` parameter is 'cuda', or it is
    a GPU-only test: skipped for want of CUDA, needing the sync detector, or named for the GPU."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("device") == "cuda":
        return True
    for mark in item.iter_markers("skipif"):
        reason = str(mark.kwargs.get("reason", "")).lower()
        if "gpu" in reason or "cuda" in reason:
            return True
    name = item.nodeid.lower()
    return "no_sync" in getattr(item, "fixturenames", ()) or "gpu" in name or "cuda" in name


def pytest_collection_modifyitems(config, items):
    """Mark every GPU test `cuda`, so a GPU machine runs exactly those: `pytest -m cuda`."""
    for item in items:
        if _runs_on_gpu(item):
            item.add_marker(pytest.mark.cuda)
