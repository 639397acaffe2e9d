"""What every source gives back: a ``Dataset``, and the one exception a user's mistake raises."""
import numpy as np

SPLITS = ("train", "val", "test")


class DataError(Exception):
    """A user's mistake with data (missing or unreadable path, empty class folder, corrupt or
    foreign HDF5, unknown source, bad argument). Its message is one line that names the file or
    argument and says what is wrong; command-line tools print it and exit 2, without traceback."""


class Dataset:
    """One split of one source, decoded to a common form.

    images      (N, S, S, 3) uint8: a NumPy array, or an ``h5py`` dataset read lazily (index it
                with sorted index arrays; ``zfcore.data.take`` does that for any order)
    labels      (N,) int64, in ``range(len(class_names))``
    class_names list of str
    mean        (S, S, 3) float32: the per-pixel mean of the source's *train* split (the same
                array for every split of one source), subtracted before cropping (Z&F Sec. 3)
    boxes       (N, 4) int32 (y0, x0, y1, x1), y1/x1 exclusive, and
    masks       (N, S, S) bool: the object of each image; ``synthetic`` only, else None
    name        a short name ('synthetic', 'cifar10', 'mnist', the folder's name, ...)
    split       'train' | 'val' | 'test'
    skipped     how many unreadable images were skipped; ``skipped_files`` their paths
    """

    def __init__(self, images, labels, class_names, mean, name, split, source="",
                 boxes=None, masks=None, skipped_files=(), file=None):
        self.images = images
        self.labels = np.asarray(labels, dtype=np.int64)
        self.class_names = [str(c) for c in class_names]
        self.mean = np.asarray(mean, dtype=np.float32)
        self.name, self.split, self.source = name, split, str(source)
        self.boxes, self.masks = boxes, masks
        self.skipped_files = list(skipped_files)
        self._file = file                       # the open h5py.File behind ``images``, if any

    @property
    def skipped(self):
        return len(self.skipped_files)

    @property
    def size(self):
        """The stored image side S."""
        return int(self.images.shape[1])

    @property
    def num_classes(self):
        return len(self.class_names)

    def __len__(self):
        return int(self.labels.shape[0])

    def close(self):
        """Close the HDF5 file behind ``images`` (if any); the dataset is unusable afterwards."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "Dataset(%s, %s: %d images %dx%d, %d classes%s)" % (
            self.name, self.split, len(self), self.size, self.size, self.num_classes,
            ", %d skipped" % self.skipped if self.skipped else "")


def pixel_mean(images, chunk=1024):
    """Per-pixel mean (S, S, 3) float32 of uint8 images (N, S, S, 3), summed in float64."""
    total = np.zeros(images.shape[1:], dtype=np.float64)
    for start in range(0, len(images), chunk):
        total += images[start:start + chunk].sum(axis=0, dtype=np.float64)
    return (total / max(len(images), 1)).astype(np.float32)


def take(images, idx):
    """``images[idx]`` for any index order, also on an h5py dataset (which only reads increasing
    indices): read in sorted order, then put back in the asked order."""
    idx = np.asarray(idx, dtype=np.int64)
    if isinstance(images, np.ndarray):
        return images[idx]
    if idx.size and idx[-1] - idx[0] == idx.size - 1 and np.all(np.diff(idx) == 1):
        return images[int(idx[0]):int(idx[-1]) + 1]          # a run: one contiguous read
    order = np.argsort(idx, kind="stable")
    sorted_idx = idx[order]
    if sorted_idx.size and np.any(sorted_idx[1:] == sorted_idx[:-1]):
        uniq, inverse = np.unique(sorted_idx, return_inverse=True)
        block = images[uniq][inverse]
    else:
        block = (images[sorted_idx] if sorted_idx.size
                 else np.empty((0,) + images.shape[1:], images.dtype))
    out = np.empty_like(block)
    out[order] = block
    return out


def check_split(split):
    if split not in SPLITS:
        raise DataError("split: expected one of %s, got %r" % (", ".join(SPLITS), split))


def check_n(n):
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DataError("n: expected a positive number of images, got %r" % (n,))
    return int(n)


def check_size(size, name="size"):
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 8:
        raise DataError("%s: expected an image side of at least 8 pixels, got %r" % (name, size))
    return int(size)


def spread(total, n):
    """``n`` indices spread evenly over ``range(total)`` (all of them if n is None or larger):
    a subset that keeps every part of a class-ordered split."""
    if n is None or n >= total:
        return np.arange(total)
    return np.floor(np.arange(n) * (total / n)).astype(np.int64)
