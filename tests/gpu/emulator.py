"""Run the CUDA kernels of ``kernels/`` on the CPU, so that their logic and the launchers that
call them are tested on machines without a GPU.

Each ``kernels/<family>.cu`` is built by g++ (with ``emu_prelude.h`` standing in for the CUDA
built-ins) into a shared library; its ``extern "C"`` kernels are called through ctypes once per
(block, thread) of a small grid, so the grid-stride loops must cover every item. Kernels that
cooperate through ``__shared__`` memory and ``__syncthreads()`` (the tree reductions of the
softmax and of SGD with renormalisation) run each block's threads at the block size the launcher
asked for, as coroutines that take turns between barriers, in ascending or, with
``emulated(reverse=True)``, descending thread order (``emu_prelude.h``): a missing barrier shows
as a wrong result. Inside ``emulated()``, ``zfcore.backend.use_kernels`` answers True for float32
NumPy arrays and ``zfcore.backend.kernel`` returns these emulated kernels: the layers' GPU paths
then run on NumPy arrays. Every call checks its arguments against the kernel's C signature
(dtype, C-contiguity, writability, exact scalar types), as the real RawKernel would need them.

What this cannot see: races between blocks or inside a warp's lockstep, out-of-bounds reads
(compute-sanitizer on the GPU run: bench/gpu_launchers.py), the real launch shape,
performance, CuPy itself.
"""
import atexit
import contextlib
import ctypes
import functools
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np

from zfcore import backend

HERE = os.path.dirname(os.path.abspath(__file__))

# C parameter type -> (numpy dtype of the array or scalar, ctypes type)
_POINTERS = {"float": np.float32, "unsigned char": np.uint8, "long long": np.int64,
             "unsigned int": np.uint32}
_SCALARS = {"int": (np.int32, ctypes.c_int32), "long long": (np.int64, ctypes.c_int64),
            "unsigned long long": (np.uint64, ctypes.c_uint64),
            "float": (np.float32, ctypes.c_float), "double": (np.float64, ctypes.c_double)}

# Emulated grid: several blocks and threads for independent-thread kernels (exercises the
# grid-stride arithmetic); for kernels that cooperate through shared memory, GRID blocks of the
# launch's own block size.
GRID, BLOCK = 2, 3
ORDER = {"reverse": False}  # the baton order of cooperative blocks (see emulated())


def available():
    return shutil.which("g++") is not None


@functools.lru_cache(maxsize=None)
def _build_dir():
    path = tempfile.mkdtemp(prefix="zfcore-emu-")
    atexit.register(shutil.rmtree, path, True)
    return path


def source_path(family):
    return os.path.join(backend.kernels_dir(), family + ".cu")


def _read(family, path=None):
    with open(path or source_path(family)) as f:
        return f.read()


def _kernels(src):
    """[(name, raw parameter text, body)] of the ``__global__`` kernels in a source."""
    out = []
    for m in re.finditer(r"__global__\s+void\s+(\w+)\s*\(([^)]*)\)\s*\{", src):
        body_end = src.find("\n}", m.end())
        out.append((m.group(1), m.group(2), src[m.end():body_end]))
    return out


def signatures(family, path=None):
    """{kernel name: ([(kind, ctype, name)], uses_syncthreads)} from the extern "C" kernels."""
    out = {}
    for name, raw_params, body in _kernels(_read(family, path)):
        params = []
        for raw in raw_params.split(","):
            raw = " ".join(raw.replace("__restrict__", "").split())
            ptr = "*" in raw
            ctype, pname = raw.replace("*", " ").replace("const ", "").rsplit(None, 1)
            params.append(("ptr" if ptr else "scalar", " ".join(ctype.split()), pname))
        out[name] = (params, "__syncthreads" in body or "block_reduce" in body)
    return out


def _trampolines(family, path):
    """For each cooperative kernel, ``emu_coop_<name>(blocks, threads, reverse, <its params>)``:
    the prelude's coroutine scheduler running that kernel."""
    lines = ['extern "C" {']
    sigs = signatures(family, path)
    for name, raw_params, _ in _kernels(_read(family, path)):
        params, cooperative = sigs[name]
        if cooperative:
            lines.append("void emu_coop_%s(unsigned int emu_blocks, unsigned int emu_threads, "
                         "int emu_reverse, %s) { emu_run_blocks(emu_blocks, emu_threads, "
                         "emu_reverse, [&]() { %s(%s); }); }"
                         % (name, raw_params, name, ", ".join(p[2] for p in params)))
    return "\n".join(lines + ["}"]) + "\n"


@functools.lru_cache(maxsize=None)
def _library(family, path):
    """The kernel source, plus the trampolines, built into a shared library."""
    stem = os.path.join(_build_dir(), "%d-%s" % (len(os.listdir(_build_dir())), family))
    with open(stem + ".cc", "w") as f:
        f.write(_read(family, path) + "\n" + _trampolines(family, path))
    subprocess.run(["g++", "-O1", "-std=c++14", "-shared", "-fPIC", "-Wno-unknown-pragmas",
                    "-include", os.path.join(HERE, "emu_prelude.h"), stem + ".cc",
                    "-o", stem + ".so"], check=True, capture_output=True)
    return ctypes.CDLL(stem + ".so")


class EmulatedKernel:
    def __init__(self, family, name, path=None):
        path = path or source_path(family)
        sigs = signatures(family, path)
        if name not in sigs:
            raise AttributeError("kernels/%s.cu has no kernel %r" % (family, name))
        self.family, self.name = family, name
        self.params, self.cooperative = sigs[name]
        lib = _library(family, path)
        argtypes = [ctypes.c_void_p if kind == "ptr" else _SCALARS[ctype][1]
                    for kind, ctype, _ in self.params]
        self.fn = getattr(lib, ("emu_coop_" if self.cooperative else "") + name)
        self.fn.restype = None
        self.fn.argtypes = ([ctypes.c_uint, ctypes.c_uint, ctypes.c_int] if self.cooperative
                            else []) + argtypes
        self.lib = lib

    def __call__(self, grid, block, args, shared_mem=0):
        where = "%s.%s" % (self.family, self.name)
        assert len(grid) >= 1 and all(int(g) >= 1 for g in grid), "%s: grid %r" % (where, grid)
        nthreads = int(np.prod(block))
        assert 1 <= nthreads <= 1024, "%s: block %r" % (where, block)
        if self.cooperative:
            assert nthreads & (nthreads - 1) == 0, "%s: block %r not a power of two" % (
                where, block)
        assert len(args) == len(self.params), "%s: %d args for %d parameters" % (
            where, len(args), len(self.params))
        cargs = []
        for a, (kind, ctype, pname) in zip(args, self.params):
            if kind == "ptr":
                assert isinstance(a, np.ndarray), "%s: %s must be an array, got %r" % (
                    where, pname, type(a))
                assert a.dtype == _POINTERS[ctype], "%s: %s is %s, kernel wants %s" % (
                    where, pname, a.dtype, ctype)
                assert a.flags.c_contiguous, "%s: %s not C-contiguous" % (where, pname)
                cargs.append(a.ctypes.data)
            else:
                want = _SCALARS[ctype][0]
                assert type(a) is want, "%s: scalar %s is %r (%s), kernel wants %s" % (
                    where, pname, a, type(a).__name__, want.__name__)
                cargs.append(a.item())
        if self.cooperative:  # GRID blocks of the launch's own block size, as coroutines
            self.fn(GRID, nthreads, int(ORDER["reverse"]), *cargs)
            return
        for b in range(GRID):
            for t in range(BLOCK):
                self.lib.emu_set(b, t, GRID, BLOCK)
                self.fn(*cargs)


def kernel(family, name, device_id=None):
    return EmulatedKernel(family, name)


@contextlib.contextmanager
def emulated(reverse=False):
    """Inside: float32 NumPy arrays take the layers' GPU paths, through emulated kernels;
    ``reverse``: cooperative blocks pass the baton from the last thread to the first."""
    saved = backend.use_kernels, backend.kernel, ORDER["reverse"]
    backend.use_kernels = lambda a: isinstance(a, np.ndarray) and a.dtype == np.float32
    backend.kernel = kernel
    ORDER["reverse"] = reverse
    try:
        yield
    finally:
        backend.use_kernels, backend.kernel, ORDER["reverse"] = saved
