"""Small datasets written in tmp_path: image folders, a fake CIFAR-10, MNIST idx files."""
import gzip
import os
import pickle
import struct

import numpy as np
import pytest

# Each class of the fake folder is one flat colour, so a label can be checked from the pixels.
FOLDER_COLOURS = {"apple": (200, 30, 30), "banana": (30, 200, 30), "cherry": (30, 30, 200)}


def save_image(path, array, fmt=None):
    from PIL import Image
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path, format=fmt)


def make_folder(root, per_class=6, sizes=((40, 30), (24, 48), (33, 33))):
    """root/<class>/<i>.png|.jpg, flat colour per class, varied sizes (w, h)."""
    for c, colour in FOLDER_COLOURS.items():
        os.makedirs(os.path.join(root, c))
        for i in range(per_class):
            w, h = sizes[i % len(sizes)]
            img = np.empty((h, w, 3), dtype=np.uint8)
            img[:] = colour
            ext = "png" if i % 2 == 0 else "jpg"
            save_image(os.path.join(root, c, "%02d.%s" % (i, ext)), img)
    return str(root)


@pytest.fixture
def folder_root(tmp_path):
    return make_folder(tmp_path / "fruit")


def cifar_images(n, offset):
    """n distinct 32x32x3 images: pixel (c, y, x) of image i = (i + offset + 7c + 3y + x) % 256."""
    i = np.arange(n)[:, None, None, None] + offset
    c = np.arange(3)[None, :, None, None]
    y = np.arange(32)[None, None, :, None]
    x = np.arange(32)[None, None, None, :]
    return ((i + 7 * c + 3 * y + x) % 256).astype(np.uint8)       # (n, 3, 32, 32), as CIFAR


def make_cifar(root, per_batch=10):
    os.makedirs(root)
    for b in range(6):
        name = "data_batch_%d" % (b + 1) if b < 5 else "test_batch"
        imgs = cifar_images(per_batch, 100 * b)
        d = {b"batch_label": name.encode(), b"data": imgs.reshape(per_batch, -1),
             b"labels": [int(v) for v in (np.arange(per_batch) + b) % 10],
             b"filenames": [b"x.png"] * per_batch}
        with open(os.path.join(root, name), "wb") as f:
            pickle.dump(d, f)
    meta = {b"label_names": [n.encode() for n in ("airplane", "automobile", "bird", "cat",
                                                  "deer", "dog", "frog", "horse", "ship", "truck")],
            b"num_cases_per_batch": per_batch}
    with open(os.path.join(root, "batches.meta"), "wb") as f:
        pickle.dump(meta, f)
    return str(root)


@pytest.fixture
def cifar_root(tmp_path):
    return make_cifar(tmp_path / "cifar-10-batches-py")


def idx_bytes(array):
    array = np.asarray(array, dtype=np.uint8)
    header = (struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
              + struct.pack(">%dI" % array.ndim, *array.shape))
    return header + array.tobytes()


def mnist_images(n, offset):
    i = np.arange(n)[:, None, None] + offset
    y = np.arange(28)[None, :, None]
    x = np.arange(28)[None, None, :]
    return ((i * 5 + 2 * y + x) % 250 + 1).astype(np.uint8)        # never 0: padding shows


def make_mnist(root, n_train=20, n_test=10, gz=True):
    os.makedirs(root)
    files = {"train-images-idx3-ubyte": mnist_images(n_train, 0),
             "train-labels-idx1-ubyte": np.arange(n_train) % 10,
             "t10k-images-idx3-ubyte": mnist_images(n_test, 1000),
             "t10k-labels-idx1-ubyte": (np.arange(n_test) + 3) % 10}
    for k, (name, arr) in enumerate(files.items()):
        data = idx_bytes(arr)
        zipped = gz if isinstance(gz, bool) else gz[k]
        with open(os.path.join(root, name + (".gz" if zipped else "")), "wb") as f:
            f.write(gzip.compress(data) if zipped else data)
    return str(root)
