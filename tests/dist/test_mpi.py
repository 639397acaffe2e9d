"""Data-parallel training and analyses on MPI (zfcore.distributed), run for real: each test
starts ``mpiexec -n 2 python -m tests.dist.worker MODE`` (tests/dist/worker.py) and compares
what the two ranks wrote with each other and with one process. Skipped, with the reason, when
mpiexec or mpi4py is missing (``pip install '.[mpi]'`` brings both)."""
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.dist import worker
from tests.nets import tiny_zfnet
from zfcore.checkpoint import load_checkpoint
from zfcore.distributed import Single
from zfcore.trainer import fit

pytestmark = pytest.mark.mpi
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT_S = 3          # the watchdog's bound in the tests of a rank that dies
SLOW_S = 60            # elsewhere: a loaded machine may hold one rank a few seconds


@functools.lru_cache(maxsize=None)
def mpiexec():
    """(path of mpiexec, its --version text), or pytest.skip with the reason."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.skip("mpi4py is not installed (pip install '.[mpi]')")
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    path = here if os.path.exists(here) else shutil.which("mpiexec")
    if path is None:
        pytest.skip("no mpiexec on PATH (pip install '.[mpi]' brings MPICH's)")
    version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    return path, version


def launch(mode, out, *args, timeout=120, watchdog_s=SLOW_S):
    """Run the worker on 2 ranks; returns (returncode, stderr, seconds)."""
    return launch_module("tests.dist.worker", [mode, out] + list(args), timeout, watchdog_s)


def launch_module(module, argv, timeout=120, watchdog_s=SLOW_S):
    """``mpiexec -n 2 python -m module argv...``; returns (returncode, stderr, seconds)."""
    path, version = mpiexec()
    extra = []
    if "Open MPI" in version or "OpenRTE" in version:
        extra += ["--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
    e = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
             ZFCORE_MPI_TIMEOUT=str(watchdog_s),
             PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [path] + extra + ["-n", "2", sys.executable, "-m", module] + [str(a) for a in argv]
    t0 = time.time()
    p = subprocess.Popen(cmd, cwd=ROOT, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        _, err = p.communicate()
        pytest.fail("mpiexec %s did not end within %d s:\n%s" % (module, timeout, err[-3000:]))
    return p.returncode, err, time.time() - t0


def ranks(out, mode):
    return [np.load(os.path.join(out, "%s_rank%d.npz" % (mode, r))) for r in (0, 1)]


def test_a_2_rank_step_is_the_1_process_step_and_the_ranks_stay_bitwise_equal(tmp_path):
    rc, err, _ = launch("step", tmp_path)
    assert rc == 0, err[-3000:]
    r0, r1 = ranks(tmp_path, "step")
    start = tiny_zfnet(12, seed=0).params()
    for b in (16, 15):              # shards of 8 + 8, and 8 + 7 (weighted by their share)
        for kind in ("g", "w"):     # the averaged gradients, the weights after the update
            keys = [k for k in r0.files if k.startswith("B%d/%s/" % (b, kind))]
            assert len(keys) == 16
            for key in keys:
                ref = r0[key.replace("/%s/" % kind, "/ref_%s/" % kind)]
                # float32 in another summation order: 1e-5 of the largest gradient, 1e-4 of
                # the largest change the update made (a missing or doubled share is O(1))
                scale = (np.abs(ref).max() * 1e-5 if kind == "g" else
                         np.abs(ref - start[key.split("/", 2)[2]]).max() * 1e-4)
                np.testing.assert_allclose(r0[key], ref, rtol=0, atol=scale, err_msg=key)
                np.testing.assert_array_equal(r0[key], r1[key], err_msg=key)
    # 3 epochs of 3 steps (the last batch 14: shards 7 + 7), with dropout drawn per rank
    assert r0["digests"].shape == (9, 16)
    np.testing.assert_array_equal(r0["digests"], r1["digests"])
    assert len({tuple(row) for row in r0["digests"]}) == 9        # the weights did move


def test_a_2_rank_run_resumed_by_1_process_ends_where_the_2_rank_run_ends(tmp_path):
    rc, err, _ = launch("run", tmp_path)
    assert rc == 0, err[-3000:]
    # rank 0 writes (metrics, checkpoints) and reports; rank 1 runs only the all-ranks callback
    seen = {}
    for name in os.listdir(tmp_path):
        if name.startswith("callbacks_"):
            with open(tmp_path / name) as f:
                seen[name] = json.load(f)
    assert seen == {"callbacks_rank0_True.json": ["MetricsCSV", "CheckpointSaver", "Progress",
                                                  "Seen", "Seen"],
                    "callbacks_rank0_False.json": ["MetricsCSV", "CheckpointSaver",
                                                   "Progress", "Seen", "Seen"],
                    "callbacks_rank1_True.json": ["Seen"]}
    half = str(tmp_path / "half")
    ck = load_checkpoint(os.path.join(half, "checkpoint.h5"))
    assert ck.epoch == 1
    before = {k: a.copy() for k, a in ck.net.params().items()}   # where the resume starts
    train, val = worker.data(44)
    fit(worker.no_dropout(ck.net), train, val, out_dir=half, epochs=2, resume=ck,
        comm=Single())
    full = load_checkpoint(str(tmp_path / "full" / "checkpoint.h5"))
    resumed = load_checkpoint(os.path.join(half, "checkpoint.h5"))
    assert full.epoch == resumed.epoch == 2 and full.state["step"] == resumed.state["step"] == 6
    for key, w in full.net.params().items():
        # 3 steps of float32 summation-order differences (a max-pool switch or a ReLU may flip
        # on a last bit and move a gradient): 1e-3 of how far the epoch moved the weights; a
        # wrong shard, lr or step would be of the order of the move itself
        moved = np.abs(w - before[key]).max()
        assert moved > 1e-4 * np.abs(w).max(), key                        # it trained
        np.testing.assert_allclose(resumed.net.params()[key], w, rtol=0, atol=1e-3 * moved,
                                   err_msg=key)
        np.testing.assert_allclose(resumed.velocity[key], full.velocity[key], rtol=0,
                                   atol=1e-3 * np.abs(full.velocity[key]).max(), err_msg=key)


def test_sharded_top9_validation_and_occlusion_equal_one_process_exactly(tmp_path):
    rc, err, _ = launch("analyses", tmp_path)
    assert rc == 0, err[-3000:]
    for r in ranks(tmp_path, "analyses"):
        sharded = [k for k in r.files if k.startswith("sharded/")]
        assert len(sharded) == 5 * 4 + 2 + 5
        for key in sharded:
            np.testing.assert_array_equal(r[key], r[key.replace("sharded/", "single/", 1)],
                                          err_msg=key)
        # ties at 0 (dead units) are broken as one pass breaks them: the earlier image first
        assert (r["single/top/relu3/values"] == 0).any()


def test_visualize_on_2_ranks_writes_the_report_of_one_process(tmp_path):
    """``mpiexec -n 2 python -m zfcore.visualize``: the top-9 scan and the occlusion sweeps are
    split over the ranks; the folder rank 0 writes must be the one-process folder (the same
    files, the same scores, the same figures pixel for pixel), and nothing else is written."""
    import matplotlib.image

    from zfcore.checkpoint import save_checkpoint
    from zfcore.data import open_dataset
    ds = open_dataset("synthetic", "train", size=32, n=24)
    run = tmp_path / "run"
    run.mkdir()
    save_checkpoint(str(run / "checkpoint.h5"), tiny_zfnet(12), None, ds.mean, ds.class_names,
                    {"epoch": 1, "data": "synthetic", "seed": 0,
                     "data_args": {"size": 32, "n": 24}})
    argv = [run, "--what", "top9,occlusion,scores", "--n-images", "24", "--maps", "4",
            "--n-score", "3", "--device", "cpu"]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    one = subprocess.run([sys.executable, "-m", "zfcore.visualize"] + [str(a) for a in argv]
                         + ["--out", str(tmp_path / "one")], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    rc, err, _ = launch_module("zfcore.visualize", argv + ["--out", tmp_path / "two"], timeout=300)
    assert rc == 0, err[-3000:]

    def files(d):
        return sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d)
                      for f in fs)

    assert files(tmp_path / "two") == files(tmp_path / "one")
    with open(tmp_path / "one" / "scores.json") as a, open(tmp_path / "two" / "scores.json") as b:
        assert json.load(a) == json.load(b)
    with open(tmp_path / "one" / "report.html") as a, open(tmp_path / "two" / "report.html") as b:
        assert a.read() == b.read()
    pngs = [f for f in files(tmp_path / "one") if f.endswith(".png")]
    assert any("top9" in f for f in pngs) and any("occlusion" in f for f in pngs)
    for f in pngs:
        np.testing.assert_array_equal(matplotlib.image.imread(str(tmp_path / "one" / f)),
                                      matplotlib.image.imread(str(tmp_path / "two" / f)),
                                      err_msg=f)


def _died(tmp_path, how):
    rc, err, seconds = launch("die", tmp_path, how, timeout=90, watchdog_s=TIMEOUT_S)
    with open(tmp_path / "die_at") as f:
        died = json.load(f)["time"]
    ck = load_checkpoint(str(tmp_path / "die" / "checkpoint.h5"))   # whole, and loads
    assert ck.epoch >= 1
    return rc, err, time.time() - died


@pytest.mark.parametrize("how", ["SIGKILL", "SIGSTOP"])
def test_a_rank_that_dies_or_hangs_ends_the_job_within_the_bound(tmp_path, how):
    """SIGKILL: the launcher stops the job itself; SIGSTOP (a hung rank, which the launcher
    cannot see): rank 0's watchdog names rank 1 after TIMEOUT_S and aborts the job."""
    rc, err, after = _died(tmp_path, how)
    assert rc != 0, err[-3000:]
    assert after < TIMEOUT_S + 3 + 15, (after, err[-3000:])
    if how == "SIGSTOP":
        lines = [ln for ln in err.splitlines() if ln.startswith("zfcore: error: rank 0")]
        assert len(lines) == 1 and "rank 1 did not answer" in lines[0], err[-3000:]
        assert "the last checkpoint is in" in lines[0]

