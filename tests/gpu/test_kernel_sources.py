"""The CUDA sources without a GPU: each kernels/*.cu compiles on its own with nvcc; none includes
a header (CuPy compiles them with NVRTC, which has no system headers); importing zfcore compiles
nothing."""
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
