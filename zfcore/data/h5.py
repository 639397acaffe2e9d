"""Packed datasets: one split decoded once into an HDF5 file, read back lazily.

Layout (format ``zfcore-data``, version 1):

- ``images``  (N, S, S, 3) uint8, chunked one image per chunk, uncompressed: a random image is
  one contiguous read
- ``labels``  (N,) int64
- ``mean``    (S, S, 3) float32: the per-pixel mean of the source's train split
- ``boxes`` (N, 4) int32 and ``masks`` (N, S, S) bool, for ``synthetic`` only
- ``skipped_files`` (K,) strings: the unreadable images left out (image folders only)
- attributes ``format`` ('zfcore-data'), ``format_version``, ``class_names``, ``name``,
  ``split``, ``source``, ``size``, ``skipped`` (K)

``pack`` writes to ``OUT.h5.tmp-<pid>`` and renames it over ``OUT.h5`` only when complete, so an
interrupted pack never leaves a half file under the final name.
"""
import os

import numpy as np

from zfcore.data.base import DataError, Dataset, check_split

FORMAT = "zfcore-data"
FORMAT_VERSION = 1


def _h5py():
    import h5py
    return h5py


def is_hdf5(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89HDF\r\n\x1a\n"


def load(path, split, size=None, n=None):
    """The .h5 written by ``pack``; ``images`` stays an h5py dataset (lazy) unless ``n`` picks a
    subset, which is read into memory."""
    h5py = _h5py()
    try:
        if not is_hdf5(path):
            raise DataError("%s: not an HDF5 file (foreign or damaged header)" % path)
        f = h5py.File(path, "r")
    except DataError:
        raise
    except Exception as e:   # h5py raises OSError for truncation, permissions, bad superblock...
        raise DataError("%s: unreadable HDF5 (%s)" % (path, _first_line(e))) from None
    try:
        ds = _read(f, path, split, size, n)
    except DataError:
        f.close()
        raise
    except Exception as e:   # damaged object headers surface only when a member is opened
        f.close()
        raise DataError("%s: corrupt HDF5 (%s)" % (path, _first_line(e))) from None
    return ds


def _first_line(e):
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _attr_str(v):
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _read(f, path, split, size, n):
    if _attr_str(f.attrs.get("format", "")) != FORMAT:
        raise DataError("%s: not a zfcore dataset (no format='%s' attribute; make one with "
                        "'python -m zfcore.data pack')" % (path, FORMAT))
    version = int(f.attrs.get("format_version", 0))
    if version > FORMAT_VERSION:
        raise DataError("%s: format version %d is newer than this zfcore reads (%d)"
                        % (path, version, FORMAT_VERSION))
    for key in ("images", "labels", "mean"):
        if key not in f:
            raise DataError("%s: no '%s' dataset (incomplete pack)" % (path, key))
    images, labels, mean = f["images"], f["labels"][()], f["mean"][()]
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8 \
            or images.shape[1] != images.shape[2]:
        raise DataError("%s: 'images' is %s %s, expected (N, S, S, 3) uint8"
                        % (path, images.shape, images.dtype))
    s = images.shape[1]
    if labels.shape != (images.shape[0],) or mean.shape != (s, s, 3):
        raise DataError("%s: 'labels' %s or 'mean' %s does not match 'images' %s"
                        % (path, labels.shape, mean.shape, images.shape))
    stored = _attr_str(f.attrs.get("split", ""))
    if stored != split:
        raise DataError("%s: holds the %r split, not %r (pack each split to its own file; a "
                        "source like 'data/{split}.h5' picks the file by split)"
                        % (path, stored, split))
    if size is not None and size != s:
        raise DataError("%s: holds %dx%d images, size=%d asked (pack again with --size %d)"
                        % (path, s, s, size, size))
    names = [_attr_str(c) for c in f.attrs.get("class_names", [])]
    if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
        raise DataError("%s: labels outside the %d class names" % (path, len(names)))
    boxes = f["boxes"][()] if "boxes" in f else None
    masks = f["masks"][()] if "masks" in f else None
    if n is not None and n < len(labels):
        from zfcore.data.base import spread
        pick = spread(len(labels), n)
        images, labels = images[pick], labels[pick]
        boxes = boxes[pick] if boxes is not None else None
        masks = masks[pick] if masks is not None else None
    skipped = [_attr_str(v) for v in f["skipped_files"][()]] if "skipped_files" in f else []
    return Dataset(images, labels, names, mean, _attr_str(f.attrs.get("name", "h5")), split,
                   source=os.path.abspath(path), boxes=boxes, masks=masks,
                   skipped_files=skipped, file=f)


def _create(f, n, s, synthetic):
    f.create_dataset("images", shape=(n, s, s, 3), maxshape=(None, s, s, 3), dtype=np.uint8,
                     chunks=(1, s, s, 3))
    f.create_dataset("labels", shape=(n,), maxshape=(None,), dtype=np.int64)
    if synthetic:
        f.create_dataset("boxes", shape=(n, 4), dtype=np.int32)
        f.create_dataset("masks", shape=(n, s, s), dtype=bool, chunks=(1, s, s))


def _attrs(f, names, name, split, source, size, skipped_files):
    f.attrs["format"] = FORMAT
    f.attrs["format_version"] = FORMAT_VERSION
    f.attrs["class_names"] = [str(c) for c in names]
    f.attrs.update(name=name, split=split, source=str(source), size=int(size),
                   skipped=len(skipped_files))
    f.create_dataset("skipped_files", data=[str(p) for p in skipped_files],
                     dtype=_h5py().string_dtype())


def pack(source, out, size=None, split="train", seed=0, n=None, progress=True):
    """Decode one split of ``source`` once into ``out`` (.h5). Returns the number of images.

    Image folders are streamed (decoded in threads and written one by one, never all in memory);
    other sources are opened with ``open_dataset`` and written in blocks.
    """
    from zfcore.data import folder, open_dataset, resolve
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
    from zfcore.data import folder
    from zfcore.data.base import spread
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
