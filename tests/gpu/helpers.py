"""The one GPU-vs-NumPy helper: run a function on a device, compare with the NumPy reference
under the tolerance of its kind (one table)."""
import os
import shutil

import numpy as np
import pytest

from tests.gpu import emulator
from zfcore.backend import cupy_or_none, cupy_unusable_reason

# Largest allowed max|got - want| / max|want| per kind of result.
TOLERANCES = {
    "exact": 0.0,     # max-pool values and switches, im2col, ReLU, dropout: no arithmetic differs
    "sum": 1e-6,      # unpool, col2im: the same additions in the same order (0 in practice)
    "float32": 1e-4,  # conv (cuBLAS vs host BLAS order), LRN (pow, running sums), softmax, SGD
    "net": 1e-4,      # a whole net, forward and backward: the layers' errors add up
}

REQUIRE_GPU = "ZFCORE_REQUIRE_GPU"  # =1: a GPU test without a usable GPU fails, not skips


def gpu_required():
    return os.environ.get(REQUIRE_GPU, "") not in ("", "0")


def no_gpu_reason():
    return "needs CuPy and a CUDA device (%s)" % cupy_unusable_reason()


NO_GXX = "needs g++ to build the kernels for the CPU emulator"

# The ``gpu`` marker's skip; with ZFCORE_REQUIRE_GPU=1, tests/gpu/conftest.py fails them instead.
SKIP_NO_GPU = pytest.mark.skipif(cupy_or_none() is None and not gpu_required(),
                                 reason=no_gpu_reason())

DEVICES = [
    pytest.param("cupy", marks=[pytest.mark.gpu, SKIP_NO_GPU]),
    pytest.param("emulated", marks=pytest.mark.skipif(shutil.which("g++") is None, reason=NO_GXX)),
]


def _to(x, cp):
    if isinstance(x, np.ndarray):
        return cp.asarray(x)
    if isinstance(x, (tuple, list)):
        return type(x)(_to(a, cp) for a in x)
    return x


def host(x):
    """NumPy copies of every CuPy array in x (nested tuples/lists/dicts too)."""
    if isinstance(x, dict):
        return {k: host(v) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(host(a) for a in x)
    return x.get() if hasattr(x, "get") else x


def run_on(device, fn, *args):
    """``fn(*args)`` on ``device``; NumPy arrays in args go to the device, results come back."""
    if device == "cupy":
        return host(fn(*_to(args, cupy_or_none())))
    with emulator.emulated():
        return fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])


def rel_error(got, want):
    """max|got - want| / max|want| over the places where ``want`` is finite; infinity where
    ``got`` is not finite at such a place (a NaN must never compare as "close"), or where the
    two disagree on a non-finite reference value."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    finite = np.isfinite(want)
    if not np.isfinite(got[finite]).all():
        return float("inf")
    if not np.array_equal(got[~finite], want[~finite], equal_nan=True):
        return float("inf")
    got, want = got[finite], want[finite]
    scale = np.abs(want).max() if want.size else 0.0
    return (float(np.abs(got - want).max() / scale) if scale > 0
            else float(np.abs(got).max(initial=0.0)))


def assert_close(got, want, kind, what=""):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, "%s: shape %s, want %s" % (what, got.shape, want.shape)
    if want.dtype == np.uint8:  # switches
        bad = np.argwhere(got != want)
        assert bad.size == 0, "%s: %d switches differ, first at %s: %s vs %s" % (
            what, len(bad), tuple(bad[0]), got[tuple(bad[0])], want[tuple(bad[0])])
        return
    err, tol = rel_error(got, want), TOLERANCES[kind]
    if not err <= tol:  # a NaN error fails too
        with np.errstate(invalid="ignore"):
            diff = np.abs(got.astype(np.float64) - want)
        diff[~np.isfinite(diff)] = np.inf
        i = np.unravel_index(np.argmax(diff), want.shape) if want.size else ()
        pytest.fail("%s: relative error %.3g > %.3g (%s); worst at %s: got %r, want %r"
                    % (what, err, tol, kind, i, got[i], want[i]))
