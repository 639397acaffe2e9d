"""Image folders: ``root/<class>/<image>`` (the layout of ImageNet and Caltech-101/256).

Class names are the sorted names of the sub-folders (hidden ones ignored); images are the files
with a known image extension. Each image is resized so that its short side is ``size`` (256 by
default, Z&F Sec. 3) and centre-cropped to ``size x size``, in one PIL resample of the centred
square. Unreadable images (corrupt, truncated, not really an image) are skipped and counted.

Splits. If ``root`` holds exactly ``train/`` and ``val/`` and/or ``test/`` folders of classes,
those are the splits. Otherwise the splits are carved from each class folder, independently of
any seed so that validation stays the same across runs: the class's files, sorted by name, are
shuffled by a Generator seeded with the CRC-32 of the class name; the first ``round(m / 10)``
(at least one when the class has 3 or more images) go to test, the next as many to val, the rest
to train.
"""
import concurrent.futures
import os
import sys
import zlib

import numpy as np

from zfcore.data.base import DataError, Dataset, pixel_mean, spread

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".pgm", ".pbm", ".tif", ".tiff",
              ".webp")
DEFAULT_SIZE = 256
_MEANS = {}          # (root, size, train files) -> mean: opening val after train decodes once


def _subdirs(path):
    try:
        names = sorted(e.name for e in os.scandir(path)
                       if e.is_dir() and not e.name.startswith("."))
    except OSError as e:
        raise DataError("%s: cannot list folder (%s)" % (path, e.strerror or e)) from None
    return names


def _image_files(folder):
    try:
        entries = sorted(e.name for e in os.scandir(folder)
                         if e.is_file() and not e.name.startswith(".")
                         and e.name.lower().endswith(EXTENSIONS))
    except OSError as e:
        raise DataError("%s: cannot list folder (%s)" % (folder, e.strerror or e)) from None
    return [os.path.join(folder, name) for name in entries]


def _classes(root):
    classes = _subdirs(root)
    if not classes:
        raise DataError("%s: no class folders (expected %s/<class>/<image>)" % (root, root))
    files = []
    for c in classes:
        f = _image_files(os.path.join(root, c))
        if not f:
            raise DataError("%s: empty class folder (no image files)" % os.path.join(root, c))
        files.append(f)
    return classes, files


def _has_split_folders(root):
    names = set(_subdirs(root))
    return "train" in names and names <= {"train", "val", "test"} and bool(
        _subdirs(os.path.join(root, "train")))


def plan(root, split):
    """``(class_names, (files, labels), (train_files, train_labels))``: the split asked for, and
    the train split (whose images give the mean). Nothing is decoded here."""
    root = os.path.abspath(root)
    if _has_split_folders(root):
        out = {}
        for s in ("train", split):
            sub = os.path.join(root, s)
            if not os.path.isdir(sub):
                raise DataError("%s: no %r folder beside %s/train" % (sub, s, root))
            classes, files = _classes(sub)
            out[s] = classes, files
        names = out["train"][0]
        if out[split][0] != names:
            raise DataError("%s: its class folders differ from those of %s"
                            % (os.path.join(root, split), os.path.join(root, "train")))
        lists = {s: out[s][1] for s in out}
    else:
        names, all_files = _classes(root)
        lists = {"train": [], split: []}
        for c, files in zip(names, all_files):
            parts = _carve(c, files)
            for s in lists:
                lists[s].append(parts[s])

    def flat(per_class):
        files = [f for fs in per_class for f in fs]
        labels = np.concatenate([np.full(len(fs), i, dtype=np.int64)
                                 for i, fs in enumerate(per_class)])
        return files, labels

    return names, flat(lists[split]), flat(lists["train"])


def _carve(class_name, files):
    m = len(files)
    k = max(1, round(m / 10)) if m >= 3 else 0
    order = np.random.default_rng(zlib.crc32(class_name.encode("utf-8"))).permutation(m)
    pick = {"test": order[:k], "val": order[k:2 * k], "train": order[2 * k:]}
    return {s: [files[i] for i in sorted(p)] for s, p in pick.items()}


def decode(path, size):
    """One image file -> (size, size, 3) uint8: short side resized to ``size``, centre square.
    Raises on anything unreadable (the caller skips it)."""
    from PIL import Image
    with Image.open(path) as img:
        w, h = img.size
        if img.format == "JPEG":
            img.draft("RGB", (max(size, w * size // min(w, h)), max(size, h * size // min(w, h))))
            w, h = img.size
        img = img.convert("RGB")
        side = min(w, h)
        left, top = (w - side) / 2, (h - side) / 2
        img = img.resize((size, size), Image.Resampling.BILINEAR,
                         box=(left, top, left + side, top + side))
        return np.asarray(img, dtype=np.uint8)


def _try_decode(path, size):
    try:
        return decode(path, size), None
    except Exception as e:   # any failure of any decoder means "unreadable": skip, count, go on
        return None, (path, str(e).splitlines()[0] if str(e) else type(e).__name__)


def iter_decoded(files, size, threads=None, desc=None):
    """Yield (i, image or None, (path, reason) or None) for every file, in order; decoded in threads
    (PIL releases the GIL while decoding). ``desc`` shows a tqdm bar on a terminal."""
    from tqdm import tqdm
    threads = threads or min(8, (os.cpu_count() or 2) * 2)
    bar = tqdm(total=len(files), desc=desc, unit="img", disable=None if desc else True,
               file=sys.stderr)
    window = max(64, 4 * threads)
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        pending = []
        for i, f in enumerate(files):
            pending.append(pool.submit(_try_decode, f, size))
            if len(pending) >= window:
                img, err = pending.pop(0).result()
                bar.update(1)
                yield i - len(pending), img, err
        base = len(files) - len(pending)
        for j, fut in enumerate(pending):
            img, err = fut.result()
            bar.update(1)
            yield base + j, img, err
    bar.close()


def decode_all(files, size, desc=None):
    """(images (M, size, size, 3) uint8 of the readable files, kept indices, [(path, reason)])."""
    images = np.empty((len(files), size, size, 3), dtype=np.uint8)
    kept, errors = [], []
    for i, img, err in iter_decoded(files, size, desc=desc):
        if err is None:
            images[len(kept)] = img
            kept.append(i)
        else:
            errors.append(err)
    return images[:len(kept)], np.asarray(kept, dtype=np.int64), errors


def train_mean(root, size, files, desc=None):
    """Per-pixel mean of the train split's readable images, streamed (nothing kept), and cached
    in this process."""
    key = (os.path.abspath(root), size, tuple(files))
    if key not in _MEANS:
        total, count = np.zeros((size, size, 3), dtype=np.float64), 0
        for _, img, err in iter_decoded(files, size, desc=desc):
            if err is None:
                total += img
                count += 1
        if count == 0:
            raise DataError("%s: no readable image in the train split" % (root,))
        _MEANS[key] = (total / count).astype(np.float32)
    return _MEANS[key]


def report_skipped(root, errors):
    if errors:
        print("zfcore.data: skipped %d unreadable image%s under %s (first: %s)"
              % (len(errors), "" if len(errors) == 1 else "s", root, ": ".join(errors[0])),
              file=sys.stderr)


def load(root, split, size=None, n=None):
    """The split of an image folder as a ``Dataset`` decoded into memory (for large folders,
    ``python -m zfcore.data pack`` once and open the .h5)."""
    size = size or DEFAULT_SIZE
    names, (files, labels), (train_files, _) = plan(root, split)
    pick = spread(len(files), n)
    files, labels = [files[i] for i in pick], labels[pick]
    bar = "%s %s" % (os.path.basename(os.path.abspath(root)), split) if len(files) > 500 else None
    images, kept, errors = decode_all(files, size, desc=bar)
    report_skipped(root, errors)
    if len(kept) == 0 and len(files) > 0:
        raise DataError("%s: no readable image in the %s split (%s)"
                        % (root, split, ": ".join(errors[0])))
    labels = labels[kept]
    if split == "train" and n is None:
        counts = np.bincount(labels, minlength=len(names))
        if counts.min() == 0:
            raise DataError("%s: no readable image among its train images"
                            % os.path.join(root, names[int(np.argmin(counts))]))
        mean = _MEANS.setdefault((os.path.abspath(root), size, tuple(train_files)),
                                 pixel_mean(images))
    else:
        mean = train_mean(root, size, train_files,
                          desc="mean of train" if len(train_files) > 500 else None)
    return Dataset(images, labels, names, mean, os.path.basename(os.path.abspath(root)), split,
                   source=os.path.abspath(root), skipped_files=[path for path, _ in errors])
