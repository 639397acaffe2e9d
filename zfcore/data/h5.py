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

``zfcore.data.packing.pack`` writes to ``OUT.h5.tmp-<pid>`` and renames it over ``OUT.h5`` only
when complete, so an interrupted pack never leaves a half file under the final name.
"""
import os

import numpy as np

from zfcore.data.base import DataError, Dataset

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
