"""Mini-batches for training and evaluation, prepared in background threads.

Each batch is a pure function of (dataset, seed, epoch, batch index): the order comes from
``SeedSequence([seed, epoch])``, the crops and flips of batch ``b`` from
``SeedSequence([seed, epoch, b])``. So the batches are the same whatever ``threads`` and
``prefetch`` are, and a run resumed at an epoch sees the batches it would have seen.
"""
import collections
import concurrent.futures

import numpy as np

from zfcore.data.base import DataError, take
from zfcore.data.crops import centre_crop, random_crop_flip


def epoch_order(n, seed, epoch):
    """The training order of epoch ``epoch``: a permutation of range(n)."""
    return np.random.default_rng(np.random.SeedSequence([seed, epoch])).permutation(n)


def _check_args(ds, batch_size, crop, threads, prefetch):
    for name, v, low in (("batch_size", batch_size, 1), ("crop", crop, 1), ("threads", threads, 0),
                         ("prefetch", prefetch, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise DataError("%s: expected an integer >= %d, got %r" % (name, low, v))
    if crop > ds.size:
        raise DataError("crop: %d exceeds the dataset's image side %d" % (crop, ds.size))


def batches(ds, batch_size, crop, train, seed=0, epoch=0, threads=2, prefetch=4, pad=None):
    """Iterate over one epoch of ``ds`` as (x, y): x (B, 3, crop, crop) float32, the images minus
    ``ds.mean`` (pixel units), NCHW; y (B,) int64. The last batch may be smaller.

    train=True: shuffled order; each image cropped at a uniformly random place and flipped
    left-right with probability 1/2 (Z&F Sec. 3: random 224x224 crops of the 256x256 images, and
    their flips). When ``crop`` equals the stored side there is no room to move, so the image is
    first reflect-padded by ``pad`` pixels (default ``size // 8``: 4 on 32x32, 8 on 64x64) and
    then cropped back to its own size: translations of up to ``pad`` pixels. ``pad=0`` gives
    flips only; when crop < size, ``pad`` defaults to 0.
    train=False: in order, the centre crop, no flip (``ten_crop`` gives the 10-crop test).

    ``threads`` workers (0: prepare in the caller's thread) keep up to ``prefetch`` batches
    ready ahead of the consumer. The batches do not depend on either.
    """
    _check_args(ds, batch_size, crop, threads, prefetch)
    n = len(ds)
    if pad is None:
        pad = ds.size // 8 if (train and crop == ds.size) else 0
    order = epoch_order(n, seed, epoch) if train else np.arange(n)
    starts = range(0, n, batch_size)

    def make(b, start):
        idx = order[start:start + batch_size]
        images = take(ds.images, idx)
        if train:
            rng = np.random.default_rng(np.random.SeedSequence([seed, epoch, b]))
            x = random_crop_flip(images, ds.mean, crop, rng, pad=pad)
        else:
            x = centre_crop(images, ds.mean, crop)
        return np.ascontiguousarray(x), ds.labels[idx]

    if threads == 0:
        for b, start in enumerate(starts):
            yield make(b, start)
        return
    pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="zfcore-batches")
    pending = collections.deque()
    try:
        jobs = iter(enumerate(starts))
        for b, start in jobs:
            pending.append(pool.submit(make, b, start))
            if len(pending) >= max(prefetch, threads):
                break
        while pending:
            x, y = pending.popleft().result()
            nxt = next(jobs, None)
            if nxt is not None:
                pending.append(pool.submit(make, *nxt))
            yield x, y
    finally:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=True)


def num_batches(ds, batch_size):
    return -(-len(ds) // batch_size)
