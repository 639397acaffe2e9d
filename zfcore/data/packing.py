"""``pack``: decode one split of any source once into an HDF5 file (the format of
``zfcore.data.h5``), written to a temporary file and renamed when complete."""
import os

import numpy as np

from zfcore.data import folder
from zfcore.data.base import DataError, check_split, spread
from zfcore.data.h5 import _attrs, _create, _h5py
from zfcore.data.sources import open_dataset, resolve


def pack(source, out, size=None, split="train", seed=0, n=None, progress=True):
    """Decode one split of ``source`` once into ``out`` (.h5). Returns the number of images.

    Image folders are streamed (decoded in threads and written one by one, never all in memory);
    other sources are opened with ``open_dataset`` and written in blocks.
    """
    check_split(split)
    out = os.fspath(out)
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise DataError("%s: its folder %s does not exist" % (out, parent))
    kind, path = resolve(source, split)
    tmp = "%s.tmp-%d" % (out, os.getpid())
    h5py = _h5py()
    try:
        with h5py.File(tmp, "w") as f:
            if kind == "folder":
                count = _pack_folder(f, path, split, size or folder.DEFAULT_SIZE, n, progress)
            else:
                ds = open_dataset(source, split, size=size, seed=seed, n=n)
                try:
                    count = _pack_dataset(f, ds, progress)
                finally:
                    ds.close()
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return count


def _pack_dataset(f, ds, progress):
    from tqdm import tqdm
    n, s = len(ds), ds.size
    _create(f, n, s, ds.boxes is not None)
    block = 256
    with tqdm(total=n, desc="pack %s %s" % (ds.name, ds.split), unit="img",
              disable=None if progress else True) as bar:
        for start in range(0, n, block):
            stop = min(n, start + block)
            f["images"][start:stop] = ds.images[start:stop]
            if ds.masks is not None:
                f["masks"][start:stop] = ds.masks[start:stop]
            bar.update(stop - start)
    f["labels"][:] = ds.labels
    if ds.boxes is not None:
        f["boxes"][:] = ds.boxes
    f.create_dataset("mean", data=ds.mean)
    _attrs(f, ds.class_names, ds.name, ds.split, ds.source, s, ds.skipped_files)
    return n


def _pack_folder(f, root, split, size, n, progress):
    names, (files, labels), (train_files, _) = folder.plan(root, split)
    pick = spread(len(files), n)
    files, labels = [files[i] for i in pick], labels[pick]
    _create(f, len(files), size, False)
    total, kept, errors = np.zeros((size, size, 3), dtype=np.float64), [], []
    desc = "pack %s %s" % (os.path.basename(os.path.abspath(root)), split) if progress else None
    for i, img, err in folder.iter_decoded(files, size, desc=desc):
        if err is not None:
            errors.append(err)
            continue
        f["images"][len(kept)] = img
        kept.append(i)
        total += img
    folder.report_skipped(root, errors)
    if not kept:
        raise DataError("%s: no readable image in the %s split" % (root, split))
    f["images"].resize(len(kept), axis=0)
    f["labels"].resize((len(kept),))
    f["labels"][:] = labels[kept]
    if split == "train" and n is None:
        mean = (total / len(kept)).astype(np.float32)
    else:
        mean = folder.train_mean(root, size, train_files,
                                 desc="mean of train" if progress else None)
    f.create_dataset("mean", data=mean)
    _attrs(f, names, os.path.basename(os.path.abspath(root)), split, os.path.abspath(root), size,
           [path for path, _ in errors])
    return len(kept)
