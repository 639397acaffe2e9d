"""The one place that knows about NumPy vs CuPy.

``xp_of(a)`` gives the array module of an array; every layer calls it and runs the same body on
both, except where a RawKernel from ``kernels/`` replaces NumPy code. ``zfcore`` imports and runs
without CuPy; CuPy is imported lazily, the first time it is asked for.
"""
import functools
import os

import numpy


@functools.lru_cache(maxsize=None)
def cupy_or_none():
    """The ``cupy`` module if it imports and sees a device, else None."""
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
        return cupy
    except Exception:  # no CuPy, no driver, no device: all mean "NumPy only"
        return None


def xp_of(a):
    """``numpy`` or ``cupy``, whichever owns array ``a``."""
    if isinstance(a, numpy.ndarray) or numpy.isscalar(a):
        return numpy
    cp = cupy_or_none()
    if cp is not None and isinstance(a, cp.ndarray):
        return cp
    return numpy


def is_gpu(a):
    return xp_of(a) is not numpy


def module_named(device):
    """The array module for a device name: 'numpy'/'cpu' or 'cupy'/'gpu'."""
    if device in ("numpy", "cpu"):
        return numpy
    if device in ("cupy", "gpu", "cuda"):
        cp = cupy_or_none()
        if cp is None:
            raise RuntimeError("device %r asked for, but CuPy or a CUDA device is missing" % device)
        return cp
    raise ValueError("unknown device %r (use 'numpy' or 'cupy')" % (device,))


def to_device(a, device):
    """Copy array ``a`` to 'numpy' or 'cupy' (no copy if it is already there)."""
    xp = module_named(device)
    if xp is numpy:
        return a.get() if is_gpu(a) else a
    return xp.asarray(a)


def to_numpy(a):
    return a.get() if is_gpu(a) else numpy.asarray(a)


def kernels_dir():
    """The folder holding the ``.cu`` sources: the installed ``zfcore.kernels`` package, or the
    top-level ``kernels/`` beside ``zfcore/`` when running from a source checkout."""
    try:
        import zfcore.kernels
        return os.path.dirname(zfcore.kernels.__file__)
    except ImportError:
        return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kernels")


@functools.lru_cache(maxsize=None)
def _module(family, device_id):
    cp = cupy_or_none()
    with open(os.path.join(kernels_dir(), family + ".cu")) as f:
        source = f.read()
    with cp.cuda.Device(device_id):
        return cp.RawModule(code=source, options=("-std=c++14",))


def kernel(family, name):
    """The RawKernel ``name`` from ``kernels/<family>.cu``, built once per process and device."""
    cp = cupy_or_none()
    return _module(family, cp.cuda.Device().id).get_function(name)


def use_kernels(a):
    """True when ``a`` is a float32 CuPy array: the case the RawKernels of ``kernels/`` handle.
    Any other array runs the layer's ``xp`` body (NumPy, or CuPy in another dtype)."""
    return is_gpu(a) and a.dtype == numpy.float32


# A 1-D grid larger than this gains nothing: the kernels loop grid-stride over their items.
MAX_BLOCKS = 1 << 20


def launch(family, name, args, items, block=256):
    """Run kernel ``name`` of ``kernels/<family>.cu`` with about one thread per item.

    ``args`` must match the kernel's C signature exactly (RawKernel does not convert):
    C-contiguous arrays, and scalars cast to ``numpy.int32`` / ``float32`` / ``int64``...
    """
    blocks = max(1, min((int(items) + block - 1) // block, MAX_BLOCKS))
    kernel(family, name)((blocks,), (block,), args)


def launch_rows(family, name, args, rows, block=256):
    """Run kernel ``name`` with one ``block``-thread block per row (``block`` a power of two,
    at most 1024, for the kernels' tree reductions)."""
    kernel(family, name)((max(1, min(int(rows), MAX_BLOCKS)),), (block,), args)
