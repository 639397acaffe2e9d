"""A run folder with real processes: one owner at a time (run.lock), Ctrl-C then --resume with
no other argument ends where an uninterrupted run ends, every option of the run is restored,
and a log file gets plain lines."""
import csv
import io
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from zfcore import cli, runlock
from zfcore.checkpoint import load_checkpoint
from zfcore.data import open_dataset
from zfcore.recipe import recipe
from zfcore.train import Progress, RunLocked, fit, main, run_lock
from tests.test_small_folder import make_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Options of a small quick run: a folder of 2 x 40 images (64 train, 8 val, 8 test),
    batch 16 (4 steps an epoch), seed 3."""
    folder = str(tmp_path_factory.mktemp("data") / "shapes")
    make_folder(folder, n_per_class=40)
    return ["--data", folder, "--batch-size", "16", "--seed", "3"]


# ``python -m zfcore.train`` with one hook after each epoch's checkpoint, so that a test does not
# race a run that may end before the test acts: ``interrupt E`` sends the process a real SIGINT
# (Ctrl-C) right after epoch E's checkpoint; ``hold FILE`` waits after each epoch until FILE exists.
CHILD = """
import os, runpy, signal, sys, time
from zfcore import trainer
mode, arg = sys.argv[1:3]
del sys.argv[1:3]
saved = trainer.CheckpointSaver.on_epoch_end
def on_epoch_end(self, t, row):
    saved(self, t, row)
    if mode == "interrupt" and row["epoch"] == int(arg):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(60)
    while mode == "hold" and not os.path.exists(arg):
        time.sleep(0.05)
trainer.CheckpointSaver.on_epoch_end = on_epoch_end
runpy.run_module("zfcore.train", run_name="__main__", alter_sys=True)
"""


def start(args, cwd, log, hook):
    """``python -m zfcore.train`` in the background with a ``hook`` (see ``CHILD``), stdout and
    stderr into ``log``."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.Popen([sys.executable, "-c", CHILD] + list(hook) + args, cwd=str(cwd),
                            env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)


def wait_for(path, proc, timeout=120):
    t0 = time.time()
    while not os.path.exists(path):
        assert proc.poll() is None, "the training ended before writing %s" % path
        assert time.time() - t0 < timeout, "no %s after %d s" % (path, timeout)
        time.sleep(0.05)


def one_line(text):
    assert text.strip().count("\n") == 0 and "Traceback" not in text, text
    return text.strip()


def test_a_second_training_into_a_run_folder_refuses_and_the_first_is_intact(tmp_path, tiny):
    run = tmp_path / "run"
    log = tmp_path / "first.log"
    go = tmp_path / "go"
    first = start(tiny + ["--epochs", "8", "--no-evolution", "--out", str(run)], tmp_path, log,
                  hook=("hold", str(go)))
    try:
        wait_for(run / "checkpoint.h5", first)           # held after epoch 1 until `go`
        assert first.poll() is None
        for again in (tiny + ["--epochs", "2", "--out", str(run)], ["--resume", str(run)]):
            second = subprocess.run([sys.executable, "-m", "zfcore.train"] + again,
                                    cwd=str(tmp_path), env=dict(os.environ, PYTHONPATH=ROOT),
                                    capture_output=True, text=True)
            assert second.returncode == 2, second.stderr
            msg = one_line(second.stderr)
            assert msg.startswith("zfcore.train: ") and str(run) in msg, msg
            assert "process %d " % first.pid in msg, msg
        go.write_text("")
        assert first.wait(timeout=600) == 0, log.read_text()
    finally:
        if first.poll() is None:
            first.kill()
    ck = load_checkpoint(str(run / "checkpoint.h5"))
    assert ck.epoch == 8 and ck.state["step"] == 8 * 4
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == [str(e) for e in range(1, 9)]
    assert all(r["val_top1_err"] for r in rows)
    assert not (run / "run.lock").exists()                     # released at the end
    # the first run's log (a file, not a terminal): plain lines, no carriage returns
    out = log.read_text()
    assert "\r" not in out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("epoch ")] == \
        ["%d/8" % e for e in range(1, 9)]
    assert len(out.splitlines()) <= 16, out


def test_a_stale_lock_is_taken_over_and_a_live_one_is_not(tmp_path, tiny):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()                                      # its pid no longer runs
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.lock").write_text('{"pid": %d, "host": "%s"}' % (gone.pid, os.uname().nodename))
    cli.run(main, tiny + ["--epochs", "1", "--no-evolution", "--quiet", "--out", str(run)],
            prog="zfcore.train")
    assert load_checkpoint(str(run / "checkpoint.h5")).epoch == 1
    assert not (run / "run.lock").exists()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / "run.lock").write_text('{"pid": %d, "host": "%s"}'
                                      % (live.pid, os.uname().nodename))
        with pytest.raises(RunLocked, match="process %d " % live.pid):
            with run_lock(str(run)):
                pass
        assert (run / "run.lock").exists()            # not ours: left alone
    finally:
        live.kill()
        live.wait()
    with run_lock(str(run)) as path:                  # its process is gone now
        with run_lock(str(run)):                      # re-entrant in one process
            pass
        assert os.path.exists(path) and str(os.getpid()) in open(path).read()
    assert not os.path.exists(path)


def test_a_lock_is_released_on_an_error_and_an_empty_folder_it_made_is_removed(tmp_path):
    run = tmp_path / "new"
    with pytest.raises(ValueError):
        with run_lock(str(run)):
            assert (run / runlock.LOCK_NAME).exists()
            raise ValueError("boom")
    assert not run.exists()


def test_ctrl_c_then_resume_with_no_argument_ends_as_an_uninterrupted_run(tmp_path, tiny):
    # not the defaults (momentum 0.8, patience 0: lr /10 after every epoch, at most 3 times):
    # the resume must restore them, and --epochs 4, from the checkpoint
    args = tiny + ["--epochs", "4", "--momentum", "0.8", "--patience", "0", "--quiet"]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    cli.run(main, args + ["--out", str(whole)], prog="zfcore.train")
    log = tmp_path / "parts.log"
    proc = start(args + ["--out", str(parts)], tmp_path, log, hook=("interrupt", "2"))
    try:
        assert proc.wait(timeout=300) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert "Traceback" not in text, text
    assert text.splitlines()[-1] == "zfcore.train: interrupted; the last good checkpoint is " \
        "%s (go on with --resume %s)" % (parts / "checkpoint.h5", parts), text
    cut = load_checkpoint(str(parts / "checkpoint.h5"))          # the last good one
    assert cut.epoch == 2
    assert not (parts / "run.lock").exists()
    cli.run(main, ["--resume", str(parts)], prog="zfcore.train")
    a = load_checkpoint(str(whole / "checkpoint.h5"))
    b = load_checkpoint(str(parts / "checkpoint.h5"))
    assert a.epoch == b.epoch == 4 and b.state["settings"]["epochs"] == 4
    assert a.state["lr"] == b.state["lr"] == pytest.approx(1e-5)
    assert b.state["settings"]["momentum"] == 0.8
    for key, w in a.net.params().items():
        np.testing.assert_array_equal(w, b.net.params()[key], err_msg=key)
        np.testing.assert_array_equal(a.velocity[key], b.velocity[key], err_msg=key)
    assert b.state["lr_drops"] == 3
    assert sorted(os.listdir(parts / "evolution")) == ["epoch_%04d.npz" % e for e in (1, 2, 3, 4)]
    for e in (1, 2, 3, 4):
        np.testing.assert_array_equal(
            np.load(whole / "evolution" / ("epoch_%04d.npz" % e))["frames/relu5"],
            np.load(parts / "evolution" / ("epoch_%04d.npz" % e))["frames/relu5"])
    assert (parts / "figures" / "evolution_relu1.png").exists()
    with open(parts / "metrics.csv") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["1", "2", "3", "4"]


def test_resume_restores_every_option_says_what_is_overridden_and_when_there_is_nothing_to_do(
        tmp_path, capsys, tiny):
    run = str(tmp_path / "run")
    cli.run(main, tiny + ["--epochs", "1", "--momentum", "0.8", "--patience", "0",
                          "--no-evolution", "--quiet", "--out", run], prog="zfcore.train")
    capsys.readouterr()
    cli.run(main, ["--resume", run, "--epochs", "2", "--quiet"], prog="zfcore.train")
    out = capsys.readouterr().out
    assert "--epochs 2 overrides the run's 1" in out.splitlines()
    ck = load_checkpoint(os.path.join(run, "checkpoint.h5"))
    assert ck.epoch == 2 and ck.state["step"] == 2 * 4             # 64 images, batch 16
    assert ck.state["settings"]["momentum"] == 0.8 and ck.state["lr"] == pytest.approx(1e-4)
    assert ck.state["args"]["evolution"] is False and not os.path.exists(run + "/evolution")
    assert ck.state["args"]["epochs"] == 2
    before = open(os.path.join(run, "checkpoint.h5"), "rb").read()
    assert cli.run(main, ["--resume", run], prog="zfcore.train") is None
    out = capsys.readouterr().out
    assert out.strip() == "nothing to do: %s/checkpoint.h5 is at epoch 2 of 2 (give --epochs " \
        "N, more than 2, to train on)" % run
    assert open(os.path.join(run, "checkpoint.h5"), "rb").read() == before
    for bad, name in ((["--seed", "9"], "--seed"), (["--dropout", "0.5"], "--dropout"),
                      (["--init", "0.01"], "--init")):
        with pytest.raises(SystemExit) as e:
            cli.run(main, ["--resume", run, "--epochs", "3"] + bad, prog="zfcore.train")
        assert e.value.code == 2
        msg = one_line(capsys.readouterr().err)
        assert name + " " in msg and run in msg, msg
    assert load_checkpoint(os.path.join(run, "checkpoint.h5")).epoch == 2


def test_without_a_terminal_progress_is_a_plain_line_now_and_then():
    train = open_dataset("synthetic", "train", n=64, seed=1)
    val = open_dataset("synthetic", "val", n=32, seed=1)
    buf = io.StringIO()
    fit(recipe("zfnet_small", 12).build(seed=0), train, val, epochs=1, batch_size=32,
        callbacks=[Progress(file=buf, every_s=0)])
    lines = buf.getvalue().splitlines()
    assert "\r" not in buf.getvalue()
    assert lines[0].startswith("64 train / 32 val images: batch 32, 2 steps an epoch")
    assert [line.split("  ")[:2] for line in lines if "  step " in line] == \
        [["epoch 1/1", "step 1/2"], ["epoch 1/1", "step 2/2"]]
    assert lines[-1].startswith("epoch 1/1  loss")
