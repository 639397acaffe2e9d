"""Data for the experiments: a dataset split by class (source classes to pretrain on, disjoint
target classes to transfer to, Z&F Sec. 5.2), and k labelled images per class drawn at random.

    src = open_classes("synthetic", "train", SHAPES[:6], per_class=200, size=32)
    pool = open_classes("synthetic", "train", SHAPES[6:], per_class=60, size=32, mean=src.mean)
    idx = draw_per_class(pool.labels, k=5, seed=0, split=3)   # 5 images of each class

Every draw is a function of (seed, split, class) alone: the k images of a split are the first k
of one permutation per class, so the 5 images of k=5 hold the 2 of k=2 (nested, as when more
images are labelled), and every arm of an experiment sees the same images.
"""
import numpy as np

from zfcore.data import Dataset, DataError, open_dataset, take
from zfcore.data.base import pixel_mean

SYNTHETIC_PER_BLOCK = 12       # synthetic labels run in blocks that hold every class once


def class_names(source, size=None, seed=0):
    """The class names of ``source`` (opening its smallest split cheaply where possible)."""
    return open_dataset(source, "val", size=size, seed=seed,
                        n=SYNTHETIC_PER_BLOCK if source == "synthetic" else None).class_names


def split_classes(names, source=None, target=None):
    """(source classes, target classes): the given lists (checked), else the first half of
    ``names`` and the rest. DataError for an unknown or shared class."""
    source = list(source) if source else list(names[:len(names) // 2])
    target = list(target) if target else [c for c in names if c not in source]
    for c in source + target:
        if c not in names:
            raise DataError("class %r is not in the dataset (its classes: %s)"
                            % (c, ", ".join(names)))
    shared = sorted(set(source) & set(target))
    if shared:
        raise DataError("source and target classes must be disjoint; both hold %s"
                        % ", ".join(shared))
    if not source or not target:
        raise DataError("need at least one source and one target class")
    return source, target


def subset(ds, idx, class_names=None, labels=None, mean=None):
    """The images ``idx`` of ``ds`` as a new ``Dataset`` (labels, names and mean as given, else
    ds's)."""
    idx = np.asarray(idx, dtype=np.int64)
    images = take(ds.images, idx) if len(idx) else np.empty((0,) + ds.images.shape[1:], np.uint8)
    return Dataset(images, ds.labels[idx] if labels is None else labels,
                   ds.class_names if class_names is None else class_names,
                   ds.mean if mean is None else mean, ds.name, ds.split, ds.source,
                   boxes=None if ds.boxes is None else ds.boxes[idx],
                   masks=None if ds.masks is None else ds.masks[idx])


def open_classes(source, split, classes, per_class=None, size=None, seed=0, mean=None):
    """The images of ``classes`` (names) in one split of ``source``, labelled 0.. in the order
    given; at most ``per_class`` of each (the first ones); mean: ``mean`` if given, else the
    per-pixel mean of the images kept (so a source-class net never sees the target classes)."""
    n = None
    if source == "synthetic" and per_class is not None:
        n = per_class * SYNTHETIC_PER_BLOCK          # every block holds each class once
    ds = open_dataset(source, split, size=size, seed=seed, n=n)
    keep, labels = [], []
    for new, name in enumerate(classes):
        if name not in ds.class_names:
            raise DataError("class %r is not in %s (its classes: %s)"
                            % (name, ds.name, ", ".join(ds.class_names)))
        idx = np.flatnonzero(ds.labels == ds.class_names.index(name))[:per_class]
        keep.append(idx)
        labels.append(np.full(len(idx), new, np.int64))
    order = np.argsort(np.concatenate(keep), kind="stable")    # keep the source's order
    idx, labels = np.concatenate(keep)[order], np.concatenate(labels)[order]
    out = subset(ds, idx, class_names=list(classes), labels=labels)
    out.mean = np.asarray(mean, np.float32) if mean is not None else pixel_mean(out.images)
    return out


def draw_per_class(labels, k, seed, split):
    """Indices of ``k`` images of each class in ``labels`` (all of a class that has fewer), in
    increasing order: the first k of the permutation of that class's images drawn from
    ``SeedSequence([seed, split, class])``."""
    labels = np.asarray(labels)
    out = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng = np.random.default_rng(np.random.SeedSequence([seed, split, int(c)]))
        out.append(idx[rng.permutation(len(idx))[:k]])
    return np.sort(np.concatenate(out)) if out else np.zeros(0, np.int64)


def counts(labels, num_classes):
    """Images per class."""
    return np.bincount(np.asarray(labels), minlength=num_classes)
