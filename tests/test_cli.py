"""The command-line layer every command shares (zfcore.cli): one line ``zfcore.<command>: error:
...`` and exit 2 for a user's mistake or an output that cannot be written (no traceback, no
``.tmp`` left), 130 on Ctrl-C, 141 on a closed pipe; ``--device auto|cpu|gpu``; a run folder
wherever a checkpoint is asked for. The commands run as real processes."""
import errno
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from tests.nets import tiny_zfnet
from zfcore import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def command(name, *args, **kw):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "zfcore." + name] + [str(a) for a in args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, **kw)


def one_line_error(r, name):
    """Exit 2 and exactly one line ``zfcore.<name>: error: ...`` on stderr (besides the
    progress lines of the steps that ran before); returns the line."""
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.endswith("\n"), r.stderr
    lines = [s for s in r.stderr.splitlines() if not re.match(r"visualize: step \d+/\d+: ", s)]
    assert len(lines) == 1 and lines[0].startswith("zfcore.%s: error: " % name), r.stderr
    return lines[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder with a tiny checkpoint trained on nothing (the commands only read it)."""
    from zfcore.checkpoint import save_checkpoint
    from zfcore.data import open_dataset
    run = tmp_path_factory.mktemp("run")
    ds = open_dataset("synthetic", "train", size=32, n=24)
    save_checkpoint(str(run / "checkpoint.h5"), tiny_zfnet(12), None, ds.mean, ds.class_names,
                    {"epoch": 1, "data": "synthetic", "seed": 0,
                     "data_args": {"size": 32, "n": 24}})
    return run


def tmp_files(folder):
    return [os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs if ".tmp" in f]


@pytest.mark.parametrize("name,argv,word", [
    ("evaluate", ["ck.h5", "--batch-size", "x"], "--batch-size"),
    ("evaluate", ["ck.h5", "--device", "tpu"], "--device"),
    ("visualize", ["ck.h5", "--out", "o", "--bogus"], "--bogus"),
    ("visualize", ["ck.h5", "--out", "o", "--device", "tpu"], "--device"),
    ("data", [], "command"),
    ("data", ["pack", "synthetic"], "out"),
    ("train", ["--epochs", "x"], "--epochs"),
    ("train", ["--anneal-by", "1.5"], "--anneal-by"),
])
def test_usage_errors_are_one_line_with_the_commands_own_prefix(name, argv, word):
    line = one_line_error(command(name, *argv), name)
    assert word in line and "usage:" not in line and "python -m" not in line


def test_a_data_error_keeps_its_message_under_the_new_prefix(tmp_path):
    line = one_line_error(command("data", "pack", tmp_path / "missing", tmp_path / "x.h5"), "data")
    assert line == "zfcore.data: error: %s: no such file or folder" % (tmp_path / "missing")


def _read_only(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod does not stop root's writes (the other variants "
                    "cover a real failing path)")
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    return out / "vis", "Permission denied"


def _under_a_file(tmp_path):
    (tmp_path / "plain").write_text("a file, not a folder")
    return tmp_path / "plain" / "vis", "Not a directory"


def _full_disk(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here to make a real ENOSPC")
    out = tmp_path / "full"
    (out / "figures").mkdir(parents=True)
    os.symlink("/dev/full", str(out / "figures" / "filters_layer1.png"))   # every write: ENOSPC
    return out, "No space left on device"


@pytest.mark.parametrize("make", [_read_only, _under_a_file, _full_disk])
def test_visualize_output_that_cannot_be_written_is_one_line(tmp_path, run_dir, make):
    out, reason = make(tmp_path)
    r = command("visualize", run_dir, "--out", out, "--what", "filters", "--n-images", "12")
    line = one_line_error(r, "visualize")
    assert line.endswith("%s: %s" % (out, reason)), line
    assert tmp_files(tmp_path) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_a_checkpoint_on_a_full_disk_is_one_line_and_leaves_no_tmp(tmp_path, capsys):
    """What zfcore.train does at the end of an epoch, through the same layer."""
    from zfcore.checkpoint import save_checkpoint
    path = str(tmp_path / "checkpoint.h5")
    os.symlink("/dev/full", path + ".tmp")

    def main(argv):
        save_checkpoint(path, tiny_zfnet(12), None, np.zeros((32, 32, 3)), ["c"] * 12, {})

    with pytest.raises(SystemExit) as e:
        cli.run(main, [], prog="zfcore.train")
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert err == "zfcore.train: error: %s: No space left on device\n" % path
    assert os.listdir(str(tmp_path)) == []


def test_an_oserror_without_a_file_name_still_names_the_output(tmp_path, capsys):
    """A write that fails on a full disk names no file; cli.writing adds the output's."""
    def main(argv):
        with cli.writing(argv[0]):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(SystemExit) as e:
        cli.run(main, ["out/dir"], prog="zfcore.x")
    assert e.value.code == 2
    assert capsys.readouterr().err == "zfcore.x: error: out/dir: No space left on device\n"


def test_a_bug_still_shows_its_traceback():
    def main(argv):
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        cli.run(main, [], prog="zfcore.x")


def test_ctrl_c_is_exit_130_with_one_line(capsys):
    def main(argv):
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as e:
        cli.run(main, [], prog="zfcore.x")
    assert e.value.code == 130 and capsys.readouterr().err == "zfcore.x: interrupted\n"


def test_sigint_to_a_real_visualize_is_130_and_no_traceback(run_dir, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.Popen([sys.executable, "-m", "zfcore.visualize", str(run_dir), "--out",
                          str(tmp_path / "vis"), "--what", "scores", "--n-images", "400",
                          "--n-score", "400"], stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, env=env, cwd=ROOT)
    first = p.stderr.readline()           # printed as the step starts (stderr is not a tty)
    assert "scores" in first, first
    p.send_signal(signal.SIGINT)
    _, rest = p.communicate(timeout=120)
    assert p.returncode == 130, (p.returncode, rest)
    assert rest == "zfcore.visualize: interrupted\n"


def test_a_closed_pipe_is_exit_141_quietly(run_dir):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.Popen([sys.executable, "-m", "zfcore.evaluate", str(run_dir), "--split",
                          "val"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                         cwd=ROOT)
    p.stdout.close()                      # like `| head -0`: nobody reads what it prints
    err = p.stderr.read().decode()
    p.wait(timeout=300)
    assert p.returncode == 141, (p.returncode, err)
    assert "Traceback" not in err and "Exception ignored" not in err, err


def test_checkpoint_path_takes_a_file_or_a_run_folder(run_dir, tmp_path):
    assert cli.checkpoint_path(str(run_dir)) == os.path.join(str(run_dir), "checkpoint.h5")
    assert cli.checkpoint_path(str(run_dir / "best.h5")) == str(run_dir / "best.h5")
    with pytest.raises(cli.UsageError, match="%s: a folder with no checkpoint.h5" % tmp_path):
        cli.checkpoint_path(str(tmp_path))


def test_one_device_vocabulary():
    import argparse
    assert cli.resolve_device("cpu") == "numpy"
    p = cli.ArgumentParser()
    cli.add_device_argument(p)
    assert p.parse_args([]).device == "auto"
    assert p.parse_args(["--device", "numpy"]).device == "cpu"     # the older word
    assert p.parse_args(["--device", "cupy"]).device == "gpu"
    with pytest.raises(cli.UsageError, match="invalid choice: 'tpu'"):
        p.parse_args(["--device", "tpu"])
    assert "{auto,cpu,gpu}" in p.format_help() and "numpy" not in p.format_help()
    assert isinstance(p, argparse.ArgumentParser)
    from zfcore.backend import cupy_or_none
    if cupy_or_none() is None:
        with pytest.raises(cli.UsageError, match="--device gpu"):
            cli.resolve_device("gpu")


def test_visualize_on_a_run_folder_with_device_cpu_logs_one_line_per_step(run_dir, tmp_path):
    """stderr is not a terminal here: no carriage-return bar, one line naming each step as it
    starts."""
    out = tmp_path / "vis"
    r = command("visualize", run_dir, "--out", out, "--what", "filters,occlusion",
                "--n-images", "12", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr
    assert r.stderr.splitlines() == ["visualize: step 1/2: filters",
                                     "visualize: step 2/2: occlusion"]
    assert (out / "figures" / "filters_layer1.png").exists() and (out / "report.html").exists()


def test_visualize_names_a_run_folder_without_a_checkpoint(tmp_path):
    line = one_line_error(command("visualize", tmp_path, "--out", tmp_path / "o"), "visualize")
    assert line.endswith("checkpoint %s: a folder with no checkpoint.h5 in it" % tmp_path)
