"""Run the CUDA kernels of ``kernels/`` on the CPU, so that their logic and the launchers that
call them are tested on machines without a GPU.

Each ``kernels/<family>.cu`` is built by g++ (with ``emu_prelude.h`` standing in for the CUDA
built-ins) into a shared library; its ``extern "C"`` kernels are called through ctypes once per
(block, thread) of a small grid, so the grid-stride loops must cover every item. Inside
``emulated()``, ``zfcore.backend.use_kernels`` answers True for float32 NumPy arrays and
``zfcore.backend.kernel`` returns these emulated kernels: the layers' GPU paths then run on
NumPy arrays. Every call checks its arguments against the kernel's C signature (dtype,
C-contiguity, writability, exact scalar types), as the real RawKernel would need them.

What this cannot see: races, the real launch shape, performance, CuPy itself.
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
# grid-stride arithmetic); one thread per block for kernels that cooperate through shared memory.
GRID, BLOCK = 2, 3


def available():
    return shutil.which("g++") is not None


@functools.lru_cache(maxsize=None)
def _build_dir():
    path = tempfile.mkdtemp(prefix="zfcore-emu-")
    atexit.register(shutil.rmtree, path, True)
    return path


def _source(family):
    with open(os.path.join(backend.kernels_dir(), family + ".cu")) as f:
        return f.read()


def signatures(family):
    """{kernel name: ([(kind, ctype, name)], uses_syncthreads)} from the extern "C" kernels."""
    src = _source(family)
    out = {}
    for m in re.finditer(r"__global__\s+void\s+(\w+)\s*\(([^)]*)\)\s*\{", src):
        params = []
        for raw in m.group(2).split(","):
            raw = " ".join(raw.replace("__restrict__", "").split())
            ptr = "*" in raw
            ctype, pname = raw.replace("*", " ").replace("const ", "").rsplit(None, 1)
            params.append(("ptr" if ptr else "scalar", " ".join(ctype.split()), pname))
        body_end = src.find("\n}", m.end())
        out[m.group(1)] = (params, "__syncthreads" in src[m.end():body_end] or
                           "block_reduce" in src[m.end():body_end])
    return out


@functools.lru_cache(maxsize=None)
def _library(family):
    path = os.path.join(_build_dir(), family + ".so")
    subprocess.run(["g++", "-O1", "-std=c++14", "-shared", "-fPIC", "-Wno-unknown-pragmas",
                    "-include", os.path.join(HERE, "emu_prelude.h"), "-x", "c++",
                    os.path.join(backend.kernels_dir(), family + ".cu"), "-o", path],
                   check=True, capture_output=True)
    return ctypes.CDLL(path)


class EmulatedKernel:
    def __init__(self, family, name):
        sigs = signatures(family)
        if name not in sigs:
            raise AttributeError("kernels/%s.cu has no kernel %r" % (family, name))
        self.family, self.name = family, name
        self.params, self.cooperative = sigs[name]
        lib = _library(family)
        self.fn = getattr(lib, name)
        self.fn.restype = None
        self.fn.argtypes = [ctypes.c_void_p if kind == "ptr" else _SCALARS[ctype][1]
                            for kind, ctype, _ in self.params]
        self.set = lib.emu_set

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
        blocks, threads = (GRID, 1) if self.cooperative else (GRID, BLOCK)
        for b in range(blocks):
            for t in range(threads):
                self.set(b, t, blocks, threads)
                self.fn(*cargs)


def kernel(family, name):
    return EmulatedKernel(family, name)


@contextlib.contextmanager
def emulated():
    """Inside: float32 NumPy arrays take the layers' GPU paths, through emulated kernels."""
    saved = backend.use_kernels, backend.kernel
    backend.use_kernels = lambda a: isinstance(a, np.ndarray) and a.dtype == np.float32
    backend.kernel = kernel
    try:
        yield
    finally:
        backend.use_kernels, backend.kernel = saved
