"""Top-1 / top-5 error of a net on a dataset, from one centre crop or from 10 crops (Z&F Sec. 3:
the 4 corners and the centre, and their horizontal flips, softmax outputs averaged). The
library the trainer and ``python -m zfcore.evaluate`` call.

Memory is bounded by one batch, not by the dataset: ``evaluate`` keeps only per-batch counts,
and the 10-crop test feeds the net at most ``batch_size`` crops at a time, never
``10 * batch_size``. It feeds only the distinct ones among the 10: on images as large as the crop
the five places coincide, and each image goes through the net twice (itself and its mirror
image), its two outputs weighted 5/10 each.

With a communicator of N > 1 ranks (``comm``, ``zfcore.distributed``) each rank takes one
contiguous block of the batches (the same batches a single process makes, so every image's
probabilities are the same numbers) and the miss counts are summed over ranks: integers, so the
error equals the single-process one exactly."""
import numpy as np

from zfcore.backend import to_device, to_numpy
from zfcore.distributed import shard_slice
from zfcore.layers.loss import softmax


def topk_misses(probs, labels, ks=(1, 5)):
    """{k: number of rows whose label is not among the k largest probs}."""
    order = np.argsort(-probs, axis=1)
    labels = np.asarray(labels)
    return {k: int((~(order[:, :k] == labels[:, None]).any(axis=1)).sum()) for k in ks}


def topk_errors(probs, labels, ks=(1, 5)):
    """{k: fraction of rows whose label is not among the k largest probs}."""
    n = len(labels)
    return {k: float(m) / n if n else 0.0 for k, m in topk_misses(probs, labels, ks).items()}


def ten_crop_probs(net, images, mean, crop, device="numpy"):
    """The 10-crop softmax average (Z&F Sec. 3) of images (b, H, W, 3): the net sees each
    distinct crop once (``ten_crop(distinct=True)``: 2 passes an image, not 10, where the crop is
    the whole image) and the average weighs it by how many of the 10 it is."""
    from zfcore.data import ten_crop
    x, weights = ten_crop(images, mean, crop, distinct=True)
    p = to_numpy(softmax(net.forward(to_device(x, device), train=False)))
    return (p.reshape(len(images), len(weights), -1) * weights[:, None]).sum(axis=1)


def batch_probs(net, ds, crop, batch_size=128, ten_crops=False, device="numpy", comm=None):
    """Yield (probs (b, C), labels (b,)) over the dataset in order, one batch at a time: softmax
    of the centre crop, or the average of the 10 crops' softmax. ``batch_size`` is the number of
    crops per forward pass (with ``ten_crops``, ``max(1, batch_size // m)`` images, m the number
    of distinct crops of the 10). With ``comm`` of N > 1 ranks: this rank's block of the batches
    only."""
    from zfcore.data import batches, centre_crop, take
    from zfcore.data.crops import ten_crop_views
    h, w = ds.images.shape[1:3]
    per = (max(1, batch_size // len(ten_crop_views(h, w, crop, distinct=True)[0])) if ten_crops
           else batch_size)                                      # images per forward pass
    if comm is not None and comm.size > 1:
        n = len(ds.labels)
        mine = shard_slice(-(-n // per), comm.rank, comm.size)
        for start in range(mine.start * per, min(mine.stop * per, n), per):
            idx = np.arange(start, min(start + per, n))
            images = take(ds.images, idx)
            if ten_crops:
                p = ten_crop_probs(net, images, ds.mean, crop, device)
            else:
                x = np.ascontiguousarray(centre_crop(images, ds.mean, crop))
                p = to_numpy(softmax(net.forward(to_device(x, device), train=False)))
            yield p, ds.labels[idx]
        return
    if not ten_crops:
        for x, y in batches(ds, batch_size, crop, train=False):
            yield to_numpy(softmax(net.forward(to_device(x, device), train=False))), y
        return
    n = len(ds.labels)
    for start in range(0, n, per):
        stop = min(start + per, n)
        yield (ten_crop_probs(net, np.asarray(ds.images[start:stop]), ds.mean, crop, device),
               np.asarray(ds.labels[start:stop]))


def predict(net, ds, crop, batch_size=128, ten_crops=False, device="numpy", comm=None):
    """Softmax probabilities (N, C) over the dataset, in order; averaged over 10 crops if asked.
    Holds all N rows: ``evaluate`` does not need them. With ``comm``: every rank gets all rows."""
    parts = [p for p, _ in batch_probs(net, ds, crop, batch_size, ten_crops, device, comm)]
    if comm is not None and comm.size > 1:
        parts = [p for block in comm.allgather(parts) for p in block]
    return np.concatenate(parts)


def evaluate(net, ds, crop, batch_size=128, ten_crops=False, device="numpy", comm=None):
    """{'top1': error, 'top5': error} (top-5 is 0 when there are 5 classes or fewer), counted
    batch by batch; with ``comm`` of N > 1 ranks, over shards and summed exactly."""
    misses, n = {1: 0, 5: 0}, 0
    for p, y in batch_probs(net, ds, crop, batch_size, ten_crops, device, comm):
        for k, m in topk_misses(p, y).items():
            misses[k] += m
        n += len(y)
    if comm is not None and comm.size > 1:
        misses[1], misses[5], n = (int(v) for v in comm.allreduce_sum(
            np.array([misses[1], misses[5], n], np.int64)))
    return {"top1": misses[1] / n if n else 0.0, "top5": misses[5] / n if n else 0.0}
