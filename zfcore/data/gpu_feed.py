"""Training and evaluation batches built on the GPU: the batches of ``zfcore.data.batches``
(the same order, crops, flips and values, bit for bit), with the host doing only the cheap part.

    for x, y in device_batches(ds, 128, 224, train=True, seed=0, epoch=e): ...   # CuPy arrays

On the CPU path a ZFNet batch is cropped, converted to float32 and mean-subtracted on the host
(77 MB for 128 x 3 x 224 x 224) and copied synchronously from pageable memory. Here the host
threads crop in uint8 (19 MB, already in NCHW order), the crop goes through pinned memory to the
device on a side stream while the previous batch trains, and the float conversion, the mean
subtraction (of the mean image cropped at the same place) and the flip run on the device
(``convert``, written against the array module, so it runs on NumPy too). Values: crop_at
subtracts the mean before padding and cropping; padding and cropping only move values, so
subtracting after them gives the same float32 numbers.
"""
import collections
import concurrent.futures

import numpy as np

from zfcore.backend import cupy_or_none, xp_of
from zfcore.data.base import take
from zfcore.data.loader import _check_args, epoch_order

SLOTS = 2  # batches in flight between host and device: one converting, one being copied


def default_pad(ds, crop, train, pad):
    """``batches``' rule: reflect-pad by size // 8 when a training crop is the whole image."""
    if pad is None:
        return ds.size // 8 if (train and crop == ds.size) else 0
    return pad


def positions(ds, crop, train, rng, b, pad):
    """(ys, xs, flips) of ``b`` crops, drawn as ``random_crop_flip`` draws them (all y, then
    all x, then the flips) for training; the centre crop, unflipped, for evaluation."""
    h, w = ds.images.shape[1:3]
    if not train:
        return (np.full(b, (h - crop) // 2), np.full(b, (w - crop) // 2), np.zeros(b, bool))
    ys = rng.integers(0, h + 2 * pad - crop + 1, size=b)
    xs = rng.integers(0, w + 2 * pad - crop + 1, size=b)
    return ys, xs, rng.random(b) < 0.5


def crop_uint8(images, ys, xs, crop, pad):
    """images (B, H, W, 3) uint8 -> (B, 3, crop, crop) uint8: each image reflect-padded by
    ``pad``, cut at (ys[b], xs[b]) in padded coordinates; not flipped, not converted."""
    if pad:
        images = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(images, (crop, crop), axis=(1, 2))
    return windows[np.arange(len(images)), np.asarray(ys), np.asarray(xs)]  # a copy


def padded_mean_chw(mean, shape, pad):
    """The mean image (H, W, 3) reflect-padded like the images, as float32 (3, H+2p, W+2p);
    zeros for a dataset without one."""
    mean = np.zeros(shape, np.float32) if mean is None else np.asarray(mean, np.float32)
    if pad:
        mean = np.pad(mean, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    return np.ascontiguousarray(mean.transpose(2, 0, 1))


def convert(u8, mean_chw, ys, xs, flips):
    """The net's input from uint8 crops, on the arrays' own device: u8 (B, 3, c, c) uint8,
    mean_chw (3, Hp, Wp) float32, ys, xs (B,) integers and flips (B,) bool (all on one device)
    -> (B, 3, c, c) float32 = float(crop) - the mean cropped at the same place, mirrored
    left-right where ``flips``."""
    xp = xp_of(u8)
    b, _, c, _ = u8.shape
    j = xp.arange(c)
    src = xp.where(flips[:, None], c - 1 - j, j)                       # (B, c) source column
    x = xp.take_along_axis(u8, xp.broadcast_to(src[:, None, None, :], u8.shape), axis=3)
    rows = ys[:, None] + j                                             # (B, c)
    cols = xs[:, None] + src                                           # (B, c)
    m = mean_chw[:, rows[:, :, None], cols[:, None, :]]                # (3, B, c, c)
    out = x.astype(np.float32)
    out -= m.transpose(1, 0, 2, 3)
    return out


def _prefetched(make, jobs, threads, prefetch):
    """``make(*job)`` for each job, ``threads`` at a time, up to ``prefetch`` ready ahead, in
    order."""
    if threads == 0:
        for job in jobs:
            yield make(*job)
        return
    pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="zfcore-feed")
    pending = collections.deque()
    jobs = iter(jobs)
    try:
        for job in jobs:
            pending.append(pool.submit(make, *job))
            if len(pending) >= max(prefetch, threads):
                break
        while pending:
            out = pending.popleft().result()
            nxt = next(jobs, None)
            if nxt is not None:
                pending.append(pool.submit(make, *nxt))
            yield out
    finally:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=True)


def host_crops(ds, batch_size, crop, train, seed=0, epoch=0, threads=2, prefetch=4, pad=None):
    """The host's share of ``device_batches``: (u8 (B, 3, c, c), ys, xs, flips, labels) per
    batch, from the order and random streams of ``zfcore.data.batches``."""
    _check_args(ds, batch_size, crop, threads, prefetch)
    pad = default_pad(ds, crop, train, pad)
    n = len(ds)
    order = epoch_order(n, seed, epoch) if train else np.arange(n)

    def make(b, start):
        idx = order[start:start + batch_size]
        images = take(ds.images, idx)
        rng = np.random.default_rng(np.random.SeedSequence([seed, epoch, b])) if train else None
        ys, xs, flips = positions(ds, crop, train, rng, len(idx), pad)
        return crop_uint8(images, ys, xs, crop, pad), ys, xs, flips, ds.labels[idx]

    return _prefetched(make, enumerate(range(0, n, batch_size)), threads, prefetch)


def device_batches(ds, batch_size, crop, train, seed=0, epoch=0, threads=2, prefetch=4,
                   pad=None, xp=None):
    """``zfcore.data.batches(...)``'s batches (x (B, 3, c, c) float32, y (B,) int64) as arrays
    of ``xp`` (default CuPy), the same values bit for bit. With CuPy: each uint8 crop is copied
    into pinned memory and on to the device on a side stream, ``SLOTS`` batches in flight, while
    the caller trains on the previous one; the conversion runs on the current stream after that
    copy. With ``xp=numpy``, the same functions on the host (what the CPU tests check)."""
    xp = cupy_or_none() if xp is None else xp
    pad = default_pad(ds, crop, train, pad)
    mean = xp.asarray(padded_mean_chw(ds.mean, ds.images.shape[1:], pad))
    host = host_crops(ds, batch_size, crop, train, seed, epoch, threads, prefetch, pad)
    if xp is np:
        for u8, ys, xs, flips, labels in host:
            yield convert(u8, mean, ys, xs, flips), labels
        return
    stager = _Stager(xp, batch_size, crop)
    staged = collections.deque()
    try:
        for item in host:
            staged.append(stager.stage(*item))
            if len(staged) == SLOTS:
                yield stager.take(staged.popleft(), mean)
        while staged:
            yield stager.take(staged.popleft(), mean)
    finally:  # no copy from the pinned buffers may outlive them (an epoch cut short too)
        stager.side.synchronize()


class _Stager:
    """Pinned host buffers and device buffers for ``SLOTS`` batches, and the events that keep
    each buffer from being overwritten while a copy or a conversion still reads it."""

    def __init__(self, cp, batch_size, crop):
        self.cp = cp
        self.side = cp.cuda.Stream(non_blocking=True)
        shape = (batch_size, 3, crop, crop)
        nbytes = -(-int(np.prod(shape)) // 64) * 64
        self.slots = []
        for _ in range(SLOTS):  # one pinned block per slot: the crops, then (ys, xs, flip, label)
            pin = cp.cuda.alloc_pinned_memory(nbytes + 4 * 8 * batch_size)
            u8 = np.frombuffer(pin, np.uint8, int(np.prod(shape))).reshape(shape)
            meta = np.frombuffer(pin, np.int64, 4 * batch_size, offset=nbytes).reshape(-1, 4)
            self.slots.append(dict(pin=pin, u8=u8, meta=meta, dev_u8=cp.empty(shape, np.uint8),
                                   dev_meta=cp.empty((batch_size, 4), np.int64),
                                   copied=None, consumed=None))
        self.next = 0

    def stage(self, u8, ys, xs, flips, labels):
        """Host -> pinned -> device (side stream) for one batch; returns (slot, batch size)."""
        slot = self.slots[self.next]
        self.next = (self.next + 1) % SLOTS
        b = len(labels)
        if slot["copied"] is not None:
            slot["copied"].synchronize()          # the pinned buffer's last copy is done
        np.copyto(slot["u8"][:b], u8)
        for col, v in enumerate((ys, xs, flips, labels)):
            slot["meta"][:b, col] = v
        if slot["consumed"] is not None:
            self.side.wait_event(slot["consumed"])  # the device buffer's last reader is done
        with self.side:
            slot["dev_u8"][:b].set(slot["u8"][:b], stream=self.side)
            slot["dev_meta"][:b].set(slot["meta"][:b], stream=self.side)
            slot["copied"] = self.side.record()
        return slot, b

    def take(self, staged, mean):
        """The converted batch on the current stream, once its copy has landed."""
        slot, b = staged
        stream = self.cp.cuda.get_current_stream()
        stream.wait_event(slot["copied"])
        meta = slot["dev_meta"]
        x = convert(slot["dev_u8"][:b], mean, meta[:b, 0], meta[:b, 1], meta[:b, 2] != 0)
        labels = meta[:b, 3].copy()
        slot["consumed"] = stream.record()
        return x, labels
