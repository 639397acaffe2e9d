"""The GPU test harness itself, on the CPU: a NaN never passes a check; ZFCORE_REQUIRE_GPU=1 turns
"no usable CuPy" into failures that say why; kernels are looked up once per (family, name,
device) and launched under their arrays' device; the emulator runs the shared-memory reductions
(softmax, SGD with renormalisation) at their real block sizes, and a barrier removed from their
source makes it give a wrong answer."""
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.gpu import emulator
from tests.gpu.helpers import NO_GXX, assert_close, rel_error
from zfcore import backend

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
needs_gxx = pytest.mark.skipif(not emulator.available(), reason=NO_GXX)


# -- 1. non-finite results ---------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("kind", ["exact", "float32"])
def test_a_non_finite_result_fails_where_the_reference_is_finite(bad, kind):
    want = np.arange(6, dtype=np.float32).reshape(2, 3)
    got = want.copy()
    got[1, 2] = bad
    assert rel_error(got, want) == np.inf
    with pytest.raises(pytest.fail.Exception, match="relative error inf"):
        assert_close(got, want, kind, "planted")


def test_a_nan_result_fails_on_an_all_zero_reference():
    with pytest.raises(pytest.fail.Exception):
        assert_close(np.array([0.0, np.nan], np.float32), np.zeros(2, np.float32), "exact")


def test_non_finite_references_must_be_matched_exactly():
    want = np.array([1.0, np.nan, np.inf], np.float32)
    assert_close(want.copy(), want, "exact", "same NaN and inf")
    for got in ([1.0, 0.0, np.inf], [1.0, np.nan, -np.inf], [1.0, np.nan, 3.0]):
        with pytest.raises(pytest.fail.Exception):
            assert_close(np.array(got, np.float32), want, "float32")


def test_close_results_still_pass():
    want = np.linspace(-1, 1, 7).astype(np.float32)
    assert_close(want * np.float32(1 + 1e-6), want, "float32")
    with pytest.raises(pytest.fail.Exception):
        assert_close(want * np.float32(1 + 1e-3), want, "float32")


# -- 2. a broken CuPy under ZFCORE_REQUIRE_GPU=1 ---------------------------------------------
BROKEN_CUPY = "raise ImportError('libnvrtc.so.13: cannot open shared object file')\n"


def _with_broken_cupy(tmp_path, args, require):
    """Run ``python args`` with a ``cupy`` that fails to import, as a wrong wheel does."""
    (tmp_path / "cupy").mkdir()
    (tmp_path / "cupy" / "__init__.py").write_text(BROKEN_CUPY)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]))
    env.pop("ZFCORE_REQUIRE_GPU", None)
    if require:
        env["ZFCORE_REQUIRE_GPU"] = "1"
    return subprocess.run([sys.executable] + args, capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)


def test_require_gpu_turns_skips_into_failures(tmp_path):
    """Without the switch the same test skips (what every CI run without a GPU shows)."""
    test = "tests/gpu/test_layers_gpu.py::test_philox_kernel_matches_reference"
    r = _with_broken_cupy(tmp_path, ["-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                                     "-m", "gpu", test], True)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "1 error" in out and "ZFCORE_REQUIRE_GPU=1" in out, out
    assert "ImportError: libnvrtc.so.13: cannot open shared object file" in out, out


def test_device_gpu_says_why_cupy_is_unusable(tmp_path):
    code = ("from zfcore import cli\n"
            "try:\n    cli.resolve_device('gpu')\n"
            "except cli.UsageError as e:\n    print(e)\n")
    r = _with_broken_cupy(tmp_path, ["-c", code], False)
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip()
    assert line.startswith("--device gpu: CuPy is unusable: ImportError: libnvrtc.so.13"), line
    assert "\n" not in line


def test_cupy_status_reason_is_one_line(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def fake_import(name, *a, **k):
        if name == "cupy":
            raise RuntimeError("CUDA driver version is insufficient\nsecond line")
        return real_import(name, *a, **k)

    backend.cupy_status.cache_clear()
    monkeypatch.setattr(builtins, "__import__", fake_import)
    try:
        assert backend.cupy_or_none() is None
        assert backend.cupy_unusable_reason() == (
            "RuntimeError: CUDA driver version is insufficient")
    finally:
        monkeypatch.undo()
        backend.cupy_status.cache_clear()


# -- 6. the kernel cache and the launch device -------------------------------------------------
class FakeCupy:
    """Just enough of CuPy for backend.launch: arrays on numbered devices, a current device,
    RawModule/get_function counting, and a record of which device each launch ran under."""

    def __init__(self):
        self.current, self.modules, self.lookups, self.launches = 0, [], [], []
        fake = self

        class ndarray:
            def __init__(self, dev):
                self.device = type("Dev", (), {"id": dev})()

        class Device:
            def __init__(self, dev):
                self.id, self.saved = dev, None

            def __enter__(self):
                self.saved, fake.current = fake.current, self.id

            def __exit__(self, *exc):
                fake.current = self.saved

        class RawModule:
            def __init__(self, code, options):
                self.dev = fake.current
                fake.modules.append(fake.current)

            def get_function(self, name):
                fake.lookups.append((name, self.dev))
                dev = self.dev
                return lambda grid, block, args: fake.launches.append((name, dev, fake.current))

        self.ndarray, self.RawModule = ndarray, RawModule
        self.cuda = type("cuda", (), {"Device": Device})
        self.cuda.runtime = type("runtime", (), {"getDevice": staticmethod(lambda: fake.current)})


def test_kernels_cached_per_family_name_device_and_launched_under_the_arrays_device(
        monkeypatch):
    fake = FakeCupy()
    monkeypatch.setattr(backend, "cupy_or_none", lambda: fake)
    backend._module.cache_clear()
    backend._kernel.cache_clear()
    try:
        on0, on1 = fake.ndarray(0), fake.ndarray(1)
        for _ in range(3):
            backend.launch("activation", "relu_fwd", (on0, on0, np.int64(1)), 1)
            backend.launch("activation", "relu_fwd", (on1, on1, np.int64(1)), 1)
            backend.launch_rows("loss", "softmax_xent_fwd_bwd", (on1,), 1, 32)
        backend.launch("activation", "relu_bwd", (on0, on0, on0, np.int64(1)), 1)
        assert fake.current == 0                       # the current device is restored
        assert sorted(fake.modules) == [0, 1, 1]       # activation on 0 and 1, loss on 1
        assert sorted(fake.lookups) == [("relu_bwd", 0), ("relu_fwd", 0), ("relu_fwd", 1),
                                        ("softmax_xent_fwd_bwd", 1)]
        # each launch ran a kernel built for its arrays' device, with that device current
        assert all(built == current for _, built, current in fake.launches)
        assert [d for n, d, _ in fake.launches if n == "relu_fwd"] == [0, 1] * 3
    finally:
        backend._module.cache_clear()
        backend._kernel.cache_clear()


# -- 9. shared-memory reductions at their real block sizes --------------------------------------
def _softmax_rows(path, logits, labels, block, reverse):
    """The fused softmax kernel of ``path`` (default kernels/loss.cu) on the emulator."""
    n, c = logits.shape
    rows, dl = np.empty(n, np.float32), np.empty_like(logits)
    k = emulator.EmulatedKernel("loss", "softmax_xent_fwd_bwd", path)
    with emulator.emulated(reverse=reverse):
        k((1,), (block,), (logits, labels, rows, dl, np.int32(n), np.int32(c)))
    return rows, dl


def _softmax_want(logits, labels):
    z = logits.astype(np.float64)
    z -= z.max(1, keepdims=True)
    lse = np.log(np.exp(z).sum(1))
    p = np.exp(z - lse[:, None])
    p[np.arange(len(labels)), labels] -= 1
    return lse - z[np.arange(len(labels)), labels], p / len(labels)


@needs_gxx
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("block", [32, 64, 128, 256])
def test_softmax_reduction_at_block_size(block, reverse):
    rng = np.random.default_rng(block)
    for c in (1, block - 1, block, 3 * block + 5, 1000):
        logits = (rng.standard_normal((5, c)) * 5).astype(np.float32)
        labels = rng.integers(0, c, 5)
        rows, dl = _softmax_rows(None, logits, labels, block, reverse)
        want_rows, want_dl = _softmax_want(logits, labels)
        assert_close(rows, want_rows, "float32", "softmax rows, block %d, c %d" % (block, c))
        assert_close(dl, want_dl, "float32", "softmax dlogits, block %d, c %d" % (block, c))


@needs_gxx
@pytest.mark.parametrize("block", [32, 128, 256])
def test_sgd_renorm_reduction_at_block_size(block):
    rng = np.random.default_rng(block)
    for fsize in (1, 27, block + 3, 1200):
        scale = np.linspace(0.02, 0.3, 7)[:, None]  # filters below and above RMS 0.1
        w = (rng.standard_normal((7, fsize)) * scale).astype(np.float32)
        g = rng.standard_normal(w.shape).astype(np.float32)
        v = (rng.standard_normal(w.shape) * 0.01).astype(np.float32)
        v_want = 0.9 * v.astype(np.float64) - 0.05 * (g + 5e-4 * w.astype(np.float64))
        w_want = w + v_want
        rms = np.sqrt((w_want ** 2).mean(1, keepdims=True))
        w_want *= np.where(rms > 0.1, 0.1 / rms, 1.0)
        assert (rms > 0.1).any() and (rms <= 0.1).any() or fsize == 1
        for reverse in (False, True):
            w_d, v_d = w.copy(), v.copy()
            k = emulator.EmulatedKernel("optim", "sgd_momentum_renorm")
            with emulator.emulated(reverse=reverse):
                k((1,), (block,), (w_d, g, v_d, np.float32(0.05), np.float32(0.9),
                                   np.float32(5e-4), np.float32(0.1), np.int32(7),
                                   np.int32(fsize)))
            assert_close(v_d, v_want, "float32", "velocity, block %d" % block)
            assert_close(w_d, w_want, "float32", "renormalised w, block %d" % block)


PLANTED = {  # a barrier removed from kernels/loss.cu: the emulator must see each
    "first barrier of the tree": ("    for (int half = blockDim.x / 2; half > 0; half /= 2) {\n"
                                  "        __syncthreads();\n",
                                  "    for (int half = blockDim.x / 2; half > 0; half /= 2) {\n"),
    "red[0] read before reuse": ("        m = red[0];\n        __syncthreads();",
                                 "        m = red[0];\n"),
}


@needs_gxx
@pytest.mark.parametrize("what", sorted(PLANTED))
def test_a_missing_barrier_gives_a_wrong_result(what, tmp_path):
    old, new = PLANTED[what]
    with open(emulator.source_path("loss")) as f:
        src = f.read()
    assert src.count(old) == 1
    path = tmp_path / "loss.cu"
    path.write_text(src.replace(old, new))
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((3, 300)) * 5).astype(np.float32)
    labels = rng.integers(0, 300, 3)
    want_rows, want_dl = _softmax_want(logits, labels)
    wrong = []
    for reverse in (False, True):
        rows, dl = _softmax_rows(str(path), logits, labels, 64, reverse)
        wrong.append(not (rel_error(rows, want_rows) <= 1e-4 and rel_error(dl, want_dl) <= 1e-4))
    assert any(wrong), "the emulator did not notice a missing __syncthreads (%s)" % what


# -- 10. the launcher script for compute-sanitizer ---------------------------------------------
@needs_gxx
def test_launcher_script_passes_on_the_emulator(capsys):
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    try:
        import gpu_launchers
    finally:
        sys.path.pop(0)
    assert gpu_launchers.main(["--emulate"]) == 0
    out = capsys.readouterr().out
    for name in ("maxpool_fwd", "maxpool_bwd", "relu_guided", "lrn_bwd d recomputed", "col2im",
                 "bias_nchw relu", "nchw_rows", "dropout_fwd", "philox_words_fwd",
                 "softmax_xent_fwd_bwd", "sgd_momentum_renorm", "sgd_momentum w", "gpu_feed"):
        assert name in out
    assert ", 0 failed" in out
