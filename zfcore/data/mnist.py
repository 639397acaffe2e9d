"""MNIST and Fashion-MNIST: a folder with the four idx files, gzipped or not
(``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``; a dot instead of the last hyphen, as some mirrors write, works too).

Splits: train is the first nine tenths of the train files (54000 images), val the last tenth
(6000), test the t10k files. The 28x28 grey images are zero-padded to 32x32 by default (Z&F's
small nets and CIFAR's side), kept at 28 for ``size=28``, resized (bilinear) to any other size;
the grey channel is copied to all three. The class names are Fashion-MNIST's when the folder's
name contains "fashion", the digits otherwise.
"""
import gzip
import os

import numpy as np

from zfcore.data.base import DataError, Dataset, pixel_mean, spread

FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]
STEMS = {"train_images": ("train-images", "idx3"), "train_labels": ("train-labels", "idx1"),
         "test_images": ("t10k-images", "idx3"), "test_labels": ("t10k-labels", "idx1")}


def _path(root, key):
    stem, kind = STEMS[key]
    for sep in ("-", "."):
        for ext in ("", ".gz"):
            p = os.path.join(root, "%s%s%s-ubyte%s" % (stem, sep, kind, ext))
            if os.path.isfile(p):
                return p
    return None


def find(root):
    """True if ``root`` holds at least one MNIST idx file."""
    return any(_path(root, k) for k in STEMS)


def read_idx(path):
    """An idx file (gzipped or not) -> uint8 array of its shape. Raises DataError on a wrong
    magic number, a non-ubyte type, or a length that does not match the header."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as e:
        raise DataError("%s: unreadable (%s)" % (path, str(e) or type(e).__name__)) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError("%s: not an idx file (bad magic number)" % path)
    if raw[2] != 0x08:
        raise DataError("%s: idx data type 0x%02x, expected 0x08 (unsigned byte)" % (path, raw[2]))
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError("%s: truncated idx header" % path)
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4"))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError("%s: truncated or padded idx file (%d bytes, header says %d)"
                        % (path, len(raw), expected))
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _pair(root, which):
    paths = [_path(root, which + "_images"), _path(root, which + "_labels")]
    for p, key in zip(paths, ("_images", "_labels")):
        if p is None:
            stem, kind = STEMS[which + key]
            raise DataError("%s: missing %s-%s-ubyte[.gz]" % (root, stem, kind))
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError("%s: images %s and labels %s do not match"
                        % (paths[0], images.shape, labels.shape))
    return images, labels.astype(np.int64)


def to_rgb(grey, size):
    """(N, 28, 28) uint8 grey -> (N, size, size, 3): zero-padded when size is 28..32 (centred),
    bilinearly resized otherwise."""
    h = grey.shape[1]
    if h <= size <= h + 4:
        top = (size - h) // 2
        out = np.zeros((len(grey), size, size), dtype=np.uint8)
        out[:, top:top + h, top:top + h] = grey
    else:
        from PIL import Image
        out = np.stack([np.asarray(Image.fromarray(g).resize((size, size),
                                                             Image.Resampling.BILINEAR))
                        for g in grey]) if len(grey) else np.zeros((0, size, size), np.uint8)
    return np.repeat(out[..., None], 3, axis=3)


def load(root, split, size=None, n=None):
    size = size or 32
    train_images, train_labels = _pair(root, "train")
    cut = len(train_images) - len(train_images) // 10
    if split == "test":
        images, labels = _pair(root, "test")
    elif split == "val":
        images, labels = train_images[cut:], train_labels[cut:]
    else:
        images, labels = train_images[:cut], train_labels[:cut]
    fashion = "fashion" in os.path.basename(os.path.abspath(root)).lower()
    names = FASHION if fashion else [str(d) for d in range(10)]
    if labels.size and labels.max() >= len(names):
        raise DataError("%s: labels outside 0..%d" % (root, len(names) - 1))
    pick = spread(len(images), n)
    return Dataset(to_rgb(images[pick], size), labels[pick], names,
                   pixel_mean(to_rgb(train_images[:cut], size)),
                   "fashion-mnist" if fashion else "mnist", split, source=os.path.abspath(root))
