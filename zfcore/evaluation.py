"""Top-1 / top-5 error of a net on a dataset, from one centre crop or from 10 crops (Z&F Sec. 3:
the 4 corners and the centre, and their horizontal flips, softmax outputs averaged). The
library the trainer and ``python -m zfcore.evaluate`` call.

Memory is bounded by one batch, not by the dataset: ``evaluate`` keeps only per-batch counts,
and the 10-crop test feeds the net ``batch_size`` crops at a time (``batch_size // 10`` images),
never ``10 * batch_size``."""
import numpy as np

from zfcore.backend import to_device, to_numpy
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


def batch_probs(net, ds, crop, batch_size=128, ten_crops=False, device="numpy"):
    """Yield (probs (b, C), labels (b,)) over the dataset in order, one batch at a time: softmax
    of the centre crop, or the average of the 10 crops' softmax. ``batch_size`` is the number of
    crops per forward pass (with ``ten_crops``, ``max(1, batch_size // 10)`` images)."""
    from zfcore.data import batches, ten_crop
    if not ten_crops:
        for x, y in batches(ds, batch_size, crop, train=False):
            yield to_numpy(softmax(net.forward(to_device(x, device), train=False))), y
        return
    n, per = len(ds.labels), max(1, batch_size // 10)
    for start in range(0, n, per):
        stop = min(start + per, n)
        x = ten_crop(np.asarray(ds.images[start:stop]), ds.mean, crop)  # (b*10, 3, crop, crop)
        p = to_numpy(softmax(net.forward(to_device(x, device), train=False)))
        yield p.reshape(stop - start, 10, -1).mean(axis=1), np.asarray(ds.labels[start:stop])


def predict(net, ds, crop, batch_size=128, ten_crops=False, device="numpy"):
    """Softmax probabilities (N, C) over the dataset, in order; averaged over 10 crops if asked.
    Holds all N rows: ``evaluate`` does not need them."""
    return np.concatenate([p for p, _ in batch_probs(net, ds, crop, batch_size, ten_crops,
                                                     device)])


def evaluate(net, ds, crop, batch_size=128, ten_crops=False, device="numpy"):
    """{'top1': error, 'top5': error} (top-5 is 0 when there are 5 classes or fewer), counted
    batch by batch."""
    misses, n = {1: 0, 5: 0}, 0
    for p, y in batch_probs(net, ds, crop, batch_size, ten_crops, device):
        for k, m in topk_misses(p, y).items():
            misses[k] += m
        n += len(y)
    return {"top1": misses[1] / n if n else 0.0, "top5": misses[5] / n if n else 0.0}
