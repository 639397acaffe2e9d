"""With ZFCORE_REQUIRE_GPU=1 (the GPU run), a ``gpu`` test that finds no usable CuPy fails with
the reason instead of skipping, so that a broken CuPy cannot pass ``pytest -m gpu`` unseen."""
import pytest

from tests.gpu.helpers import REQUIRE_GPU, gpu_required, no_gpu_reason
from zfcore.backend import cupy_or_none


def pytest_runtest_setup(item):
    if item.get_closest_marker("gpu") and gpu_required() and cupy_or_none() is None:
        pytest.fail("%s=1: %s" % (REQUIRE_GPU, no_gpu_reason()), pytrace=False)
