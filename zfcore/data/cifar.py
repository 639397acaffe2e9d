"""CIFAR-10 in its python form: a folder with ``data_batch_1`` .. ``data_batch_5``,
``test_batch`` and ``batches.meta`` (pickles; ``cifar-10-batches-py/`` inside the folder works
too).

The batches are pickles, and a pickle can name any function to call while it loads. They are
read with ``BatchUnpickler``, which resolves only the few names the format needs (NumPy's array
and dtype reconstruction); anything else is refused with one line naming the file, before it runs.

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


def _latin1_encode(text, encoding="latin1"):
    """``_codecs.encode`` as Python 3 writes ``bytes`` in a protocol-2 pickle (``encode(str,
    'latin1')``); any other codec is refused."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise _Refused("_codecs.encode(..., %r)" % (encoding,))
    return text.encode("latin1")


def _empty_bytes(*args):
    """``bytes()``, as Python 3 writes ``b''`` in a protocol-2 pickle; ``bytes(n)`` (an
    allocation of n bytes) and the rest are refused."""
    if args:
        raise _Refused("bytes(...) with arguments")
    return b""


class _Refused(pickle.UnpicklingError):
    """A pickle asked for a name outside ``BatchUnpickler``'s list."""


def _allowed_names():
    """{(module, name): object} of every name a CIFAR-10 batch may ask for. The NumPy functions
    are taken from NumPy itself (what it names when it pickles an array or a scalar), so the old
    ``numpy.core`` and the new ``numpy._core`` paths both resolve without importing either."""
    probe = np.zeros(1, dtype=np.uint8)
    reconstruct = probe.__reduce__()[0]           # ndarray, pickle protocols 0-4
    frombuffer = probe.__reduce_ex__(5)[0]        # ndarray, protocol 5
    scalar = np.uint8(0).__reduce__()[0]          # a NumPy scalar (e.g. a numpy int label)
    names = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
             ("_codecs", "encode"): _latin1_encode,
             ("builtins", "bytes"): _empty_bytes, ("__builtin__", "bytes"): _empty_bytes}
    for core in ("numpy.core", "numpy._core"):
        names[(core + ".multiarray", "_reconstruct")] = reconstruct
        names[(core + ".multiarray", "scalar")] = scalar
        names[(core + ".numeric", "_frombuffer")] = frombuffer
    return names


class BatchUnpickler(pickle.Unpickler):
    """An unpickler that builds dicts, lists, strings, bytes, numbers and NumPy arrays, and
    nothing else: ``find_class`` (the only way a pickle reaches a callable) resolves just the
    names below and refuses every other one, so no function named by the file runs.

    CIFAR-10's batches (Python 2 cPickle, protocol 2) name ``numpy.core.multiarray._reconstruct``,
    ``numpy.ndarray`` and ``numpy.dtype``; the rest are what NumPy and Python 3 write when the same
    dict is pickled again (``numpy._core`` paths, protocol 5's ``_frombuffer``, numpy scalars,
    protocol 2's ``_codecs.encode`` and ``bytes()`` for bytes)."""

    ALLOWED = _allowed_names()

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise _Refused("%s.%s" % (module, name)) from None


def read_pickle(path):
    """The object in the pickle file ``path``, read with ``BatchUnpickler`` (bytes keys and
    strings, as Python 2 wrote them). Raises DataError naming the file for a refused name, a
    damaged file or one that is missing."""
    if not os.path.isfile(path):
        raise DataError("%s: missing CIFAR-10 file (expected %s)" % (path, ", ".join(FILES)))
    try:
        with open(path, "rb") as f:
            return BatchUnpickler(f, encoding="bytes").load()
    except _Refused as e:
        raise DataError("%s: refused: the pickle asks for %s, but a CIFAR-10 batch holds only "
                        "dicts, lists, strings, numbers and NumPy arrays (nothing was run)"
                        % (path, e)) from None
    except Exception as e:   # truncated, not a pickle, wrong protocol: all "unreadable"
        raise DataError("%s: unreadable CIFAR-10 batch (%s)"
                        % (path, str(e).splitlines()[0] if str(e) else type(e).__name__)) from None


def find(root):
    """The folder holding the batches (``root`` itself or its ``cifar-10-batches-py``), or None."""
    for d in (root, os.path.join(root, "cifar-10-batches-py")):
        if (os.path.isfile(os.path.join(d, "data_batch_1"))
                or os.path.isfile(os.path.join(d, "test_batch"))):
            return d
    return None


def _unpickle(path):
    d = read_pickle(path)
    if not isinstance(d, dict):
        raise DataError("%s: not a CIFAR-10 batch (a pickle of %s, not a dict)"
                        % (path, type(d).__name__))
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in d.items()}


def read_batch(path):
    """One batch file -> (images (N, 32, 32, 3) uint8 NHWC, labels (N,) int64)."""
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
    parts = [read_batch(os.path.join(d, b)) for b in TRAIN_BATCHES]
    train_images = np.concatenate([p[0] for p in parts])
    train_labels = np.concatenate([p[1] for p in parts])
    n_val = len(train_images) // 10
    cut = len(train_images) - n_val
    size = size or 32
    mean = pixel_mean(_resize(train_images[:cut], size))
    if split == "test":
        images, labels = read_batch(os.path.join(d, "test_batch"))
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
