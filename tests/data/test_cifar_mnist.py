"""CIFAR-10 python batches and MNIST idx files, on small fakes written by the conftest."""
import gzip
import os

import numpy as np
import pytest

from zfcore.data import DataError, open_dataset
from zfcore.data.base import pixel_mean
from zfcore.data.mnist import FASHION, read_idx

from .conftest import cifar_images, idx_bytes, make_cifar, make_mnist, mnist_images


def test_cifar_splits_pixels_and_names(cifar_root):
    tr = open_dataset(cifar_root, "train")
    va = open_dataset(cifar_root, "val")
    te = open_dataset(cifar_root, "test")
    assert (len(tr), len(va), len(te)) == (45, 5, 10)      # val: the last tenth of the 50
    assert tr.name == "cifar10" and tr.class_names[:3] == ["airplane", "automobile", "bird"]
    # CIFAR stores each image channel-planar (3, 32, 32); ours is (32, 32, 3)
    np.testing.assert_array_equal(tr.images[:10], cifar_images(10, 0).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(va.images, cifar_images(10, 400)[5:].transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(te.images, cifar_images(10, 500).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(te.labels, (np.arange(10) + 5) % 10)
    np.testing.assert_array_equal(va.labels, (np.arange(5, 10) + 4) % 10)
    np.testing.assert_allclose(tr.mean, pixel_mean(tr.images), atol=1e-4)
    np.testing.assert_array_equal(te.mean, tr.mean)


def test_cifar_parent_folder_and_resize(cifar_root):
    ds = open_dataset(os.path.dirname(cifar_root), "test", size=16)   # holds cifar-10-batches-py/
    assert ds.images.shape == (10, 16, 16, 3) and ds.mean.shape == (16, 16, 3)


def test_cifar_missing_and_corrupt_batches(tmp_path):
    root = make_cifar(tmp_path / "c")
    os.remove(os.path.join(root, "data_batch_3"))
    with pytest.raises(DataError, match="data_batch_3: missing"):
        open_dataset(root, "train")
    root = make_cifar(tmp_path / "d")
    with open(os.path.join(root, "test_batch"), "r+b") as f:
        f.truncate(100)
    with pytest.raises(DataError, match="test_batch: unreadable"):
        open_dataset(root, "test")


@pytest.mark.parametrize("gz", [True, False, (True, False, False, True)])
def test_mnist_gz_or_not(tmp_path, gz):
    root = make_mnist(tmp_path / "mnist", gz=gz)
    tr, va, te = (open_dataset(root, s) for s in ("train", "val", "test"))
    assert (len(tr), len(va), len(te)) == (18, 2, 10)
    assert tr.name == "mnist" and tr.class_names == [str(d) for d in range(10)]
    assert tr.images.shape == (18, 32, 32, 3)
    grey = mnist_images(20, 0)
    np.testing.assert_array_equal(tr.images[:, 2:30, 2:30, 1], grey[:18])     # zero-padded by 2
    np.testing.assert_array_equal(va.images[:, 2:30, 2:30, 0], grey[18:])
    assert tr.images[:, :2].max() == 0 and tr.images[:, :, 30:].max() == 0
    assert np.array_equal(tr.images[..., 0], tr.images[..., 2])                 # grey replicated
    np.testing.assert_array_equal(te.labels, (np.arange(10) + 3) % 10)
    np.testing.assert_array_equal(te.mean, tr.mean)


def test_mnist_native_and_resized_sizes_and_fashion_names(tmp_path):
    root = make_mnist(tmp_path / "fashion-mnist")
    ds = open_dataset(root, "test", size=28)
    np.testing.assert_array_equal(ds.images[..., 0], mnist_images(10, 1000))
    assert ds.class_names == FASHION and ds.name == "fashion-mnist"
    assert open_dataset(root, "test", size=64).images.shape == (10, 64, 64, 3)


def test_idx_errors(tmp_path):
    good = idx_bytes(np.zeros((3, 4, 4)))
    cases = {"trunc": good[:-5], "magic": b"\x12\x34" + good[2:],
             "type": good[:2] + b"\x0d" + good[3:]}
    words = {"trunc": "truncated", "magic": "not an idx", "type": "data type"}
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(DataError, match=words[name]):
            read_idx(str(p))
    p = tmp_path / "bad.gz"
    p.write_bytes(gzip.compress(good)[:-8])
    with pytest.raises(DataError, match="bad.gz"):
        read_idx(str(p))
    root = make_mnist(tmp_path / "m")
    os.remove(os.path.join(root, "t10k-labels-idx1-ubyte.gz"))
    with pytest.raises(DataError, match="t10k-labels"):
        open_dataset(root, "test")
