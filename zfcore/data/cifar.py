"""CIFAR-10 in its python form: a folder with ``data_batch_1`` .. ``data_batch_5``,
``test_batch`` and ``batches.meta`` (pickles; ``cifar-10-batches-py/`` inside the folder works
too).

Splits: train is the first nine tenths of data_batch_1..5 in order (45000 images), val the last
tenth (the last 5000 of data_batch_5), test is ``test_batch``. Images are 32x32 natively; another
``size`` resizes them (bilinear).
"""
import os
import pickle

import numpy as np

from zfcore.data.base import DataError, Dataset, pixel_mean, spread

TRAIN_BATCHES = ["data_batch_%d" % i for i in range(1, 6)]
FILES = TRAIN_BATCHES + ["test_batch", "batches.meta"]


def find(root):
    """The folder holding the batches (``root`` itself or its ``cifar-10-batches-py``), or None."""
    for d in (root, os.path.join(root, "cifar-10-batches-py")):
        if (os.path.isfile(os.path.join(d, "data_batch_1"))
                or os.path.isfile(os.path.join(d, "test_batch"))):
            return d
    return None


def _unpickle(path):
    if not os.path.isfile(path):
        raise DataError("%s: missing CIFAR-10 file (expected %s)" % (path, ", ".join(FILES)))
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
    except Exception as e:   # truncated, not a pickle, wrong protocol: all "unreadable"
        raise DataError("%s: unreadable CIFAR-10 batch (%s)"
                        % (path, str(e).splitlines()[0] if str(e) else type(e).__name__)) from None
    if not isinstance(d, dict):
        raise DataError("%s: not a CIFAR-10 batch (a pickle of %s, not a dict)"
                        % (path, type(d).__name__))
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in d.items()}


def _batch(path):
    d = _unpickle(path)
    try:
        data = np.asarray(d["data"], dtype=np.uint8)
        labels = np.asarray(d["labels"], dtype=np.int64)
        images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)    # (N, 32, 32, 3) NHWC
    except (KeyError, ValueError) as e:
        raise DataError("%s: not a CIFAR-10 batch (%s)" % (path, e)) from None
    if len(images) != len(labels):
        raise DataError("%s: %d images but %d labels" % (path, len(images), len(labels)))
    return images, labels


def _resize(images, size):
    if size == images.shape[1]:
        return np.ascontiguousarray(images)
    from PIL import Image
    out = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for i, im in enumerate(images):
        out[i] = np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.BILINEAR))
    return out


def load(root, split, size=None, n=None):
    d = find(root) or root
    meta = _unpickle(os.path.join(d, "batches.meta"))
    names = [x.decode("utf-8") if isinstance(x, bytes) else str(x)
             for x in meta.get("label_names", [])]
    parts = [_batch(os.path.join(d, b)) for b in TRAIN_BATCHES]
    train_images = np.concatenate([p[0] for p in parts])
    train_labels = np.concatenate([p[1] for p in parts])
    n_val = len(train_images) // 10
    cut = len(train_images) - n_val
    size = size or 32
    mean = pixel_mean(_resize(train_images[:cut], size))
    if split == "test":
        images, labels = _batch(os.path.join(d, "test_batch"))
    elif split == "val":
        images, labels = train_images[cut:], train_labels[cut:]
    else:
        images, labels = train_images[:cut], train_labels[:cut]
    if not names:
        names = [str(i) for i in range(int(train_labels.max()) + 1)]
    if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
        raise DataError("%s: labels outside 0..%d" % (d, len(names) - 1))
    pick = spread(len(images), n)
    return Dataset(_resize(images[pick], size), labels[pick], names, mean, "cifar10", split,
                   source=os.path.abspath(d))
