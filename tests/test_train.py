"""The training CLI: exact resume, and every user mistake as one line with a non-zero exit."""
import os
import subprocess
import sys

import numpy as np
import pytest

from zfcore import cli
from zfcore.checkpoint import load_checkpoint
from zfcore.train import main

TINY = ["--n-train", "192", "--batch-size", "64", "--quiet", "--seed", "3"]


def train(*args):
    return cli.run(main, list(args) + TINY, prog="zfcore.train")


def error_line(capsys, *args):
    with pytest.raises(SystemExit) as e:
        train(*args)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_interrupted_then_resumed_run_ends_with_the_same_weights(tmp_path):
    # --patience 0 divides lr by 10 after every epoch, also at the interruption; the resumed
    # run is given neither --batch-size nor --momentum: it must take the original run's
    whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
    train("--epochs", "2", "--out", whole, "--patience", "0", "--momentum", "0.8")
    train("--epochs", "1", "--out", parts, "--patience", "0", "--momentum", "0.8")
    assert load_checkpoint(os.path.join(parts, "checkpoint.h5")).epoch == 1
    cli.run(main, ["--epochs", "2", "--resume", parts, "--quiet"], prog="zfcore.train")
    a = load_checkpoint(os.path.join(whole, "checkpoint.h5"))
    b = load_checkpoint(os.path.join(parts, "checkpoint.h5"))
    assert a.epoch == b.epoch == 2 and a.state["step"] == b.state["step"] == 2 * 3
    assert a.state["lr"] == b.state["lr"] == pytest.approx(1e-4)
    for key, w in a.net.params().items():
        np.testing.assert_array_equal(w, b.net.params()[key], err_msg=key)
        np.testing.assert_array_equal(a.velocity[key], b.velocity[key], err_msg=key)
    with open(os.path.join(parts, "metrics.csv")) as f:
        assert [line.split(",")[0] for line in f.read().split()] == ["epoch", "1", "2"]
    for name in ("best.h5", "metrics.csv", "figures/evolution_relu1.png",
                 "figures/evolution_relu5.png"):
        assert os.path.exists(os.path.join(whole, name)), name


def test_bad_arguments(capsys, tmp_path):
    assert "--lr" in error_line(capsys, "--lr", "-1", "--out", str(tmp_path / "a"))
    assert "--epochs" in error_line(capsys, "--epochs", "0", "--out", str(tmp_path / "b"))
    assert "--init" in error_line(capsys, "--init", "wide", "--out", str(tmp_path / "c"))


def test_missing_dataset_names_the_path(capsys, tmp_path):
    missing = str(tmp_path / "no-such-data")
    assert missing in error_line(capsys, "--data", missing, "--out", str(tmp_path / "r"))


def test_resume_with_another_architecture_or_a_foreign_file(capsys, tmp_path):
    run = str(tmp_path / "run")
    train("--epochs", "1", "--out", run)
    msg = error_line(capsys, "--resume", run, "--arch", "alexnet_small", "--epochs", "2")
    assert "alexnet_small" in msg and "zfnet_small" in msg
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    assert "junk.h5" in error_line(capsys, "--resume", str(junk))


def test_an_existing_run_is_never_overwritten(capsys, tmp_path):
    run = str(tmp_path / "run")
    train("--epochs", "1", "--out", run)
    before = open(os.path.join(run, "checkpoint.h5"), "rb").read()
    assert "--resume" in error_line(capsys, "--epochs", "1", "--out", run)
    assert open(os.path.join(run, "checkpoint.h5"), "rb").read() == before


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(capsys, tmp_path):
    run = str(tmp_path / "run")
    train("--epochs", "1", "--out", run)
    good = load_checkpoint(os.path.join(run, "checkpoint.h5"))
    msg = error_line(capsys, "--resume", run, "--epochs", "3", "--lr", "1e12")
    assert "step" in msg and "checkpoint.h5" in msg
    kept = load_checkpoint(os.path.join(run, "checkpoint.h5"))
    assert kept.epoch == good.epoch
    np.testing.assert_array_equal(kept.net.params()["conv1.W"], good.net.params()["conv1.W"])


def test_the_module_entry_point_prints_one_line_not_a_traceback(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    p = subprocess.run([sys.executable, "-m", "zfcore.train", "--data", str(tmp_path / "nope")],
                       capture_output=True, text=True, cwd=str(tmp_path), env=env)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "Traceback" not in p.stderr
    assert "nope" in p.stderr
