"""The one place that knows about NumPy vs CuPy.

``xp_of(a)`` gives the array module of an array; every layer calls it and runs the same body on
both, except where a RawKernel from ``kernels/`` replaces NumPy code. ``zfcore`` imports and runs
without CuPy; CuPy is imported lazily, the first time it is asked for.
"""
import functools
import os

import numpy


@functools.lru_cache(maxsize=None)
def cupy_status():
    """(the ``cupy`` module, None) if CuPy imports and sees a device, else (None, why): one line,
    the exception's type and message (a wrong wheel, no driver, no NVRTC...)."""
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None, "CuPy sees no CUDA device"
        return cupy, None
    except Exception as e:  # no CuPy, no driver, no device: all mean "NumPy only"
        lines = str(e).strip().splitlines()
        return None, "%s: %s" % (type(e).__name__, lines[0] if lines else "(no message)")


def cupy_or_none():
    """The ``cupy`` module if it imports and sees a device, else None (``cupy_status`` says
    why)."""
    return cupy_status()[0]


def cupy_unusable_reason():
    """Why ``cupy_or_none()`` is None, in one line; None when CuPy is usable."""
    return cupy_status()[1]


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
            raise RuntimeError("device %r asked for, but CuPy is unusable (%s)"
                               % (device, cupy_unusable_reason()))
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


@functools.lru_cache(maxsize=None)
def _kernel(family, name, device_id):
    return _module(family, device_id).get_function(name)


def kernel(family, name, device_id=None):
    """The RawKernel ``name`` from ``kernels/<family>.cu`` on device ``device_id`` (default: the
    current one), built and looked up once per process and device (``get_function`` costs
    ~10-20 us, a launch of a small kernel about as much)."""
    if device_id is None:
        device_id = cupy_or_none().cuda.runtime.getDevice()
    return _kernel(family, name, device_id)


def device_of(args):
    """The device id of the first CuPy array in ``args`` (None: no CuPy array among them)."""
    cp = cupy_or_none()
    for a in args:
        if cp is not None and isinstance(a, cp.ndarray):
            return a.device.id
    return None


def use_kernels(a):
    """True when ``a`` is a float32 CuPy array: the case the RawKernels of ``kernels/`` handle.
    Any other array runs the layer's ``xp`` body (NumPy, or CuPy in another dtype)."""
    return is_gpu(a) and a.dtype == numpy.float32


# A 1-D grid larger than this gains nothing: the kernels loop grid-stride over their items.
MAX_BLOCKS = 1 << 20


def _run(family, name, grid, block, args):
    """Launch under the device that holds the arrays (not merely the current one): a kernel
    built for one device must not be handed another device's memory."""
    dev = device_of(args)
    if dev is None:  # the CPU emulator (tests/gpu/emulator.py): NumPy arrays
        kernel(family, name)(grid, block, args)
        return
    cp = cupy_or_none()
    if dev == cp.cuda.runtime.getDevice():
        kernel(family, name, dev)(grid, block, args)
        return
    with cp.cuda.Device(dev):
        kernel(family, name, dev)(grid, block, args)


def launch(family, name, args, items, block=256):
    """Run kernel ``name`` of ``kernels/<family>.cu`` with about one thread per item.

    ``args`` must match the kernel's C signature exactly (RawKernel does not convert):
    C-contiguous arrays, and scalars cast to ``numpy.int32`` / ``float32`` / ``int64``...
    """
    blocks = max(1, min((int(items) + block - 1) // block, MAX_BLOCKS))
    _run(family, name, (blocks,), (block,), args)


def launch_rows(family, name, args, rows, block=256):
    """Run kernel ``name`` with one ``block``-thread block per row (``block`` a power of two,
    at most 1024, for the kernels' tree reductions)."""
    _run(family, name, (max(1, min(int(rows), MAX_BLOCKS)),), (block,), args)
