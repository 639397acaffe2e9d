"""The one GPU-vs-NumPy helper: run a function on a device, compare with the NumPy reference
under the tolerance of its kind (one table)."""
import shutil

import numpy as np
import pytest

from tests.gpu import emulator
from zfcore.backend import cupy_or_none

# Largest allowed max|got - want| / max|want| per kind of result.
TOLERANCES = {
    "exact": 0.0,     # max-pool values and switches, im2col, ReLU, dropout: no arithmetic differs
    "sum": 1e-6,      # unpool, col2im: the same additions in the same order (0 in practice)
    "float32": 1e-4,  # conv (cuBLAS vs host BLAS order), LRN (pow, running sums), softmax, SGD
    "net": 1e-4,      # a whole net, forward and backward: the layers' errors add up
}

NO_GPU = "needs CuPy and a CUDA device (zfcore.backend.cupy_or_none() is None)"
NO_GXX = "needs g++ to build the kernels for the CPU emulator"

DEVICES = [
    pytest.param("cupy", marks=[pytest.mark.gpu,
                                pytest.mark.skipif(cupy_or_none() is None, reason=NO_GPU)]),
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
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
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
    if err > tol:
        i = np.unravel_index(np.argmax(np.abs(got.astype(np.float64) - want)), want.shape)
        pytest.fail("%s: relative error %.3g > %.3g (%s); worst at %s: got %r, want %r"
                    % (what, err, tol, kind, i, got[i], want[i]))
