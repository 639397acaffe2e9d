"""Top-1 / top-5 error of a net on a dataset, from one centre crop or from 10 crops (Z&F Sec. 3:
the 4 corners and the centre, and their horizontal flips, softmax outputs averaged). The
library the trainer and ``python -m zfcore.evaluate`` call."""
import numpy as np

from zfcore.backend import to_device, to_numpy
from zfcore.layers.loss import softmax


def topk_errors(probs, labels, ks=(1, 5)):
    """{k: fraction of rows whose label is not among the k largest probs}."""
    order = np.argsort(-probs, axis=1)
    return {k: float(1.0 - (order[:, :k] == labels[:, None]).any(axis=1).mean()) for k in ks}


def predict(net, ds, crop, batch_size=128, ten_crops=False, device="numpy"):
    """Softmax probabilities (N, C) over the dataset, in order; averaged over 10 crops if asked."""
    from zfcore.data import batches, ten_crop
    out = []
    if not ten_crops:
        for x, _ in batches(ds, batch_size, crop, train=False):
            out.append(to_numpy(softmax(net.forward(to_device(x, device), train=False))))
        return np.concatenate(out)
    for start in range(0, len(ds.labels), batch_size):
        idx = np.arange(start, min(start + batch_size, len(ds.labels)))
        x = ten_crop(ds.images[idx], ds.mean, crop)                 # (B*10, 3, crop, crop)
        p = to_numpy(softmax(net.forward(to_device(x, device), train=False)))
        out.append(p.reshape(len(idx), 10, -1).mean(axis=1))
    return np.concatenate(out)


def evaluate(net, ds, crop, batch_size=128, ten_crops=False, device="numpy"):
    """{'top1': error, 'top5': error} (top-5 is 0 when there are 5 classes or fewer)."""
    probs = predict(net, ds, crop, batch_size, ten_crops, device)
    errs = topk_errors(probs, np.asarray(ds.labels))
    return {"top1": errs[1], "top5": errs[5]}
