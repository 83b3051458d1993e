"""Shared fixtures: `device` runs a test once per device present (the CPU
always; each CUDA device when ember sees one)."""
import pytest

import ember

DEVICES = ["cpu"] + [f"cuda:{i}" for i in range(ember.cuda.device_count())]


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param
