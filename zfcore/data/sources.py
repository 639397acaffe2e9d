"""Which kind of dataset a source names, and opening one split of it (the table in
``zfcore.data``'s docstring)."""
import os

import numpy as np

from zfcore.data.base import DataError, check_n, check_size, check_split


def resolve(source, split):
    """(kind, path) for a source: kind is 'synthetic', 'h5', 'cifar', 'mnist' or 'folder'. A
    dataset name ('cifar10', 'mnist', 'fashion-mnist') that is not an existing path means the
    folder ``python -m zfcore.data download NAME`` fetched (``zfcore.data.download``)."""
    if isinstance(source, str) and source == "synthetic":
        return "synthetic", None
    if not isinstance(source, (str, os.PathLike)):
        raise DataError("source: expected 'synthetic' or a path, got %r" % (source,))
    path = os.fspath(source)
    if "{split}" in path:
        path = path.replace("{split}", split)
    if not os.path.exists(path):
        from zfcore.data import download
        if path in download.NAMES:      # 'cifar10', 'mnist', 'fashion-mnist': where it was fetched
            return resolve(download.installed(path), split)
        if os.sep not in path and "." not in path:
            raise DataError("source: %r is neither 'synthetic' nor an existing path (nor a "
                            "dataset name: %s)" % (path, ", ".join(download.NAMES)))
        raise DataError("%s: no such file or folder" % path)
    if os.path.isfile(path):
        from zfcore.data import h5
        try:
            hdf5 = h5.is_hdf5(path)
        except OSError as e:
            raise DataError("%s: unreadable (%s)" % (path, e.strerror or e)) from None
        if hdf5 or path.lower().endswith((".h5", ".hdf5")):
            return "h5", path
        raise DataError("%s: unknown source (a file, but not an HDF5 pack; expected 'synthetic', "
                        "an image folder, a CIFAR-10 or MNIST folder, or a .h5 pack)" % path)
    if not os.access(path, os.R_OK | os.X_OK):
        raise DataError("%s: folder not readable" % path)
    from zfcore.data import cifar, mnist
    if cifar.find(path):
        return "cifar", cifar.find(path)
    if mnist.find(path):
        return "mnist", path
    return "folder", path


def open_dataset(source, split, size=None, seed=0, n=None):
    """One split of a dataset, as a ``Dataset`` (images uint8 (N, S, S, 3), labels, class_names,
    mean of the train split, boxes/masks for synthetic).

    source  'synthetic', an image folder, a CIFAR-10 or MNIST folder, or a packed .h5; may
            contain '{split}'; or 'cifar10' / 'mnist' / 'fashion-mnist', once downloaded
    split   'train' | 'val' | 'test' (how val is carved out: see each module, and the table in
            this package's docstring; always deterministic)
    size    the stored side S (default: 64 synthetic, 256 folders, 32 CIFAR and MNIST; a .h5
            is what it was packed at)
    seed    synthetic only: the seed its images are drawn from (folder, CIFAR and MNIST splits
            do not depend on it, so validation stays fixed across runs)
    n       how many images: synthetic makes the first n; other sources keep n spread evenly
            over the split (every class kept in a class-ordered split); default all
    """
    check_split(split)
    size, n = check_size(size), check_n(n)
    kind, path = resolve(source, split)
    if kind == "synthetic":
        from zfcore.data import synthetic
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise DataError("seed: expected a non-negative integer, got %r" % (seed,))
        return synthetic.load(split, size, int(seed), n)
    if kind == "h5":
        from zfcore.data import h5
        return h5.load(path, split, size, n)
    if kind == "cifar":
        from zfcore.data import cifar
        return cifar.load(path, split, size, n)
    if kind == "mnist":
        from zfcore.data import mnist
        return mnist.load(path, split, size, n)
    from zfcore.data import folder
    return folder.load(path, split, size, n)
