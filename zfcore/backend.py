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
