"""The CUDA sources without a GPU: each kernels/*.cu compiles on its own with nvcc, and with NVRTC
as CuPy compiles it (where a libnvrtc is found); none includes a header (NVRTC has no system
headers); importing zfcore compiles nothing."""
import ctypes
import ctypes.util
import glob
import os
import shutil
import subprocess
import sys

import pytest

from zfcore.backend import kernels_dir

SOURCES = sorted(glob.glob(os.path.join(kernels_dir(), "*.cu")))
FAMILIES = ["activation", "conv", "dropout", "loss", "lrn", "optim", "pool"]


def test_one_source_per_family():
    assert sorted(os.path.basename(p)[:-3] for p in SOURCES) == FAMILIES


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc on PATH")
@pytest.mark.parametrize("path", SOURCES, ids=os.path.basename)
def test_compiles_with_nvcc(path, tmp_path):
    out = subprocess.run(["nvcc", "-arch=sm_90", "--cubin", "-std=c++14", "-o",
                          str(tmp_path / "k.cubin"), path], capture_output=True, text=True)
    assert out.returncode == 0, "nvcc %s:\n%s%s" % (os.path.basename(path), out.stdout, out.stderr)


def _nvrtc():
    """libnvrtc (CUDA's runtime compiler, what CuPy's RawModule uses), if one can be found."""
    names = [ctypes.util.find_library("nvrtc")]
    try:
        import nvidia  # the nvidia-cuda-nvrtc wheels
        names += sorted(glob.glob(os.path.join(list(nvidia.__path__)[0], "*", "lib",
                                               "libnvrtc.so*")))
    except ImportError:
        pass
    for name in filter(None, names):
        try:
            return ctypes.CDLL(name)
        except OSError:
            pass
    return None


@pytest.mark.skipif(_nvrtc() is None, reason="needs libnvrtc (e.g. pip install nvidia-cuda-nvrtc)")
@pytest.mark.parametrize("path", SOURCES, ids=os.path.basename)
def test_compiles_with_nvrtc_as_cupy_does(path):
    lib = _nvrtc()
    with open(path, "rb") as f:
        src = f.read()
    prog = ctypes.c_void_p()
    assert lib.nvrtcCreateProgram(ctypes.byref(prog), src, path.encode(), 0, None, None) == 0
    opts = [b"--gpu-architecture=sm_90", b"-std=c++14"]  # zfcore.backend's options
    rc = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    assert rc == 0, "NVRTC %s:\n%s" % (os.path.basename(path), log.value.decode())


@pytest.mark.parametrize("path", SOURCES, ids=os.path.basename)
def test_includes_no_header(path):
    with open(path) as f:
        assert not [line for line in f if line.lstrip().startswith("#include")]


def test_import_compiles_nothing():
    code = ("import importlib, pkgutil, zfcore\n"
            "for m in pkgutil.walk_packages(zfcore.__path__, 'zfcore.'):\n"
            "    importlib.import_module(m.name)\n"
            "from zfcore import backend\n"
            "assert backend._module.cache_info().currsize == 0, 'a kernel module was built'\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
