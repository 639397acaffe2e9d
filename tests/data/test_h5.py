"""pack -> .h5 -> open_dataset round trips, the command line, and damaged or foreign files."""
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from zfcore.data import DataError, batches, open_dataset, pack
from zfcore.data.h5 import FORMAT

from .conftest import make_folder

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "zfcore.data"] + list(args), capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)


def assert_same(a, b):
    np.testing.assert_array_equal(a.images[:], b.images[:])
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.mean, b.mean)
    assert a.class_names == b.class_names and a.name == b.name and a.split == b.split


def test_synthetic_round_trip_keeps_boxes_masks_and_reads_lazily(tmp_path):
    out = str(tmp_path / "val.h5")
    assert pack("synthetic", out, split="val", n=40, seed=2, progress=False) == 40
    mem = open_dataset("synthetic", "val", n=40, seed=2)
    with open_dataset(out, "val") as disk:
        assert isinstance(disk.images, h5py.Dataset)
        assert disk.images.chunks == (1, 64, 64, 3)
        assert_same(mem, disk)
        np.testing.assert_array_equal(mem.boxes, disk.boxes)
        np.testing.assert_array_equal(mem.masks, disk.masks)
        # batches read the lazy dataset in any order and give what memory gives
        for (xa, ya), (xb, yb) in zip(batches(mem, 16, 56, True, seed=1),
                                      batches(disk, 16, 56, True, seed=1)):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
    with h5py.File(out, "r") as f:
        assert f.attrs["format"] == FORMAT and f.attrs["format_version"] == 1
        assert list(f.attrs["class_names"]) == mem.class_names
    assert os.listdir(str(tmp_path)) == ["val.h5"]                 # no temp file left


def test_folder_pack_streams_and_counts_skipped(tmp_path):
    root = make_folder(tmp_path / "fruit", per_class=5)
    with open(os.path.join(root, "apple", "zz_broken.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
    out = str(tmp_path / "fruit-train.h5")
    pack(root, out, size=12, split="train", progress=False)
    mem = open_dataset(root, "train", size=12)
    disk = open_dataset(out, "train")
    assert_same(mem, disk)
    assert disk.skipped == mem.skipped == 1 and disk.skipped_files == mem.skipped_files
    assert disk.skipped_files[0].endswith("zz_broken.png")
    # val packed alone still carries the train mean
    pack(root, str(tmp_path / "fruit-val.h5"), size=12, split="val", progress=False)
    np.testing.assert_array_equal(open_dataset(str(tmp_path / "fruit-{split}.h5"), "val").mean,
                                  mem.mean)


def test_cli_pack_and_errors(tmp_path):
    out = str(tmp_path / "s.h5")
    r = run_cli("pack", "synthetic", out, "--size", "32", "--n", "24", "--split", "test", "--quiet")
    assert r.returncode == 0, r.stderr
    ds = open_dataset(out, "test")
    assert ds.images.shape == (24, 32, 32, 3)
    np.testing.assert_array_equal(ds.images[:],
                                  open_dataset("synthetic", "test", size=32, n=24).images)
    for args, word in ((["pack", str(tmp_path / "missing"), out], "missing: no such file"),
                       (["pack", "synthetic", str(tmp_path / "no" / "dir.h5")], "does not exist"),
                       (["pack", "synthetic", out, "--n", "0"], "n: expected")):
        r = run_cli(*args)
        assert r.returncode == 2, r
        assert (r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
                and word in r.stderr), r.stderr


def test_truncated_foreign_and_mismatched_files(tmp_path):
    good = str(tmp_path / "good.h5")
    pack("synthetic", good, split="train", n=30, progress=False)
    with open(good, "rb") as f:
        data = f.read()
    cases = {}
    cases["truncated.h5"] = data[:len(data) // 2]
    cases["header.h5"] = b"\0" * 8 + data[8:]
    cases["text.h5"] = b"hello, not hdf5"
    for name, raw in cases.items():
        (tmp_path / name).write_bytes(raw)
    with h5py.File(str(tmp_path / "foreign.h5"), "w") as f:
        f["x"] = np.zeros(3)
    with h5py.File(str(tmp_path / "nolabels.h5"), "w") as f:
        f.attrs["format"] = FORMAT
        f["images"] = np.zeros((2, 4, 4, 3), np.uint8)
    expect = {"truncated.h5": "unreadable HDF5", "header.h5": "not an HDF5",
              "text.h5": "not an HDF5", "foreign.h5": "not a zfcore dataset",
              "nolabels.h5": "no 'labels'"}
    for name, word in expect.items():
        with pytest.raises(DataError) as e:
            open_dataset(str(tmp_path / name), "train")
        msg = str(e.value)
        assert name in msg and word in msg and "\n" not in msg, msg
    with pytest.raises(DataError, match="holds the 'train' split, not 'val'"):
        open_dataset(good, "val")
    with pytest.raises(DataError, match="size=32"):
        open_dataset(good, "train", size=32)
    r = run_cli("pack", str(tmp_path / "text.h5"), str(tmp_path / "o.h5"))
    assert r.returncode == 2 and "unknown source" not in r.stderr and "not an HDF5" in r.stderr


def test_unknown_file_source(tmp_path):
    p = tmp_path / "list.txt"
    p.write_text("a\nb\n")
    with pytest.raises(DataError, match="unknown source"):
        open_dataset(str(p), "train")
