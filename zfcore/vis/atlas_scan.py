"""The atlas's numbers, from one pass over the data for every unit of every layer at once.

For each chosen layer and feature map ("unit"): the k images whose strongest activation in that
map is largest, with where it is (Z&F Sec. 4, Fig. 2: one per image), and per class the mean
over that class's images of the strongest activation (which class drives the unit most). Each
batch goes through ``net.forward(x, keep=layers)`` once, on the net's device; the running
top-k is ``topk.RunningTopK``, the per-class sums one (B, C) x (B, K) product per layer.

Occlusion for every unit at once (Z&F Sec. 4.2, Fig. 7b): one forward pass of an image's
occluded copies gives the total activation of every map of every layer, so the cost is per
image, not per unit.
"""
from collections import namedtuple

import numpy as np

from zfcore.backend import to_numpy, xp_of
from zfcore.vis.occlude import occluder_fill, occluder_grid
from zfcore.vis.probe import strongest
from zfcore.vis.topk import RunningTopK, TopK

LayerScan = namedtuple("LayerScan", "top class_mean class_count class_best class_best_image")
LayerScan.__doc__ = """One layer's scan: ``top`` a ``topk.TopK`` (values, image, i, j, each
(C, k), strongest first); ``class_mean`` (C, K) float64, the mean over the images of class c of
their strongest activation in each map (nan for a class with no image); ``class_count`` (K,);
``class_best`` (C, K) the largest of those per class and ``class_best_image`` (C, K) its image
(the first on ties; -inf and -1 for a class with no image)."""


def scan_units(net, inputs, labels, layers, num_classes, k=9, batch_size=64, progress=None):
    """One pass over ``inputs`` (a ``probe.Inputs``) with ``labels`` (N,) in 0..num_classes-1:
    {layer: LayerScan} for every map of every layer in ``layers``. ``progress(n)`` after each
    batch of n images."""
    labels = np.asarray(labels, dtype=np.int64)
    runs, sums, best, best_image = {}, {}, {}, {}
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    hw = {}
    for start, x in inputs.batches(batch_size):
        outs = net.forward(x, keep=layers)
        xp = xp_of(x)
        y = labels[start:start + x.shape[0]]
        onehot = xp.asarray(np.eye(num_classes, dtype=np.float64)[y])         # (B, K)
        for name in layers:
            a = outs[name]
            if name not in runs:
                runs[name] = RunningTopK(a.shape[1], k, xp_of(a))
                sums[name] = xp.zeros((a.shape[1], num_classes), dtype=np.float64)
                best[name] = np.full((a.shape[1], num_classes), -np.inf)
                best_image[name] = np.full((a.shape[1], num_classes), -1, dtype=np.int64)
                hw[name] = a.shape[2:]
            values, pos = strongest(a)                                       # (B, C) each
            runs[name].update(values, pos, start)
            sums[name] += values.astype(np.float64).T @ onehot               # (C, K)
            v = to_numpy(values).astype(np.float64)
            for c in np.unique(y):
                rows = np.flatnonzero(y == c)
                arg = v[rows].argmax(axis=0)                                 # (C,)
                top = v[rows[arg], np.arange(v.shape[1])]
                new = top > best[name][:, c]                  # strictly: ties keep the earlier
                best[name][new, c] = top[new]
                best_image[name][new, c] = start + rows[arg[new]]
        if progress is not None:
            progress(x.shape[0])
    out = {}
    for name in layers:
        run = runs[name]
        pos = to_numpy(run.pos)
        width = hw[name][1] if len(hw[name]) == 2 else 1
        top = TopK(name, to_numpy(run.values), to_numpy(run.image), pos // width, pos % width)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = to_numpy(sums[name]) / counts[None, :]
        out[name] = LayerScan(top, np.where(counts[None, :] > 0, mean, np.nan), counts,
                              best[name], best_image[name])
    return out


def occlusion_totals(net, x, layers, size, stride, fill=0.0, chunk=64):
    """Z&F Fig. 7b for every map of ``layers`` at once, for one image x (3, H, W) (net input).

    A ``size`` x ``size`` square of ``fill`` (as in ``occlude.occlusion``) with its top-left
    corner at (i*stride, j*stride), clipped at the border, for i < H' = floor((H - size) /
    stride) + 1 and j < W'. Returns ({layer: (C, H', W') numpy}: the sum over positions of each
    map as a function of the square's place, {layer: (C,)}: the same on the unoccluded image).
    The occluded copies go through ``net.forward(..., keep=layers)`` ``chunk`` at a time, so the
    pass stops at the deepest of ``layers``.
    """
    xp = xp_of(x)
    _, h, w = x.shape
    hp, wp = occluder_grid((h, w), size, stride)
    colour = occluder_fill(x, fill).reshape(-1, 1, 1)
    corners = [(i * stride, j * stride) for i in range(hp) for j in range(wp)]
    base = {name: _totals(a)[0] for name, a in net.forward(x[None], keep=layers).items()}
    maps = {name: np.empty((len(corners), len(base[name]))) for name in layers}
    for s in range(0, len(corners), chunk):
        batch = corners[s:s + chunk]
        xb = xp.repeat(x[None], len(batch), axis=0)              # (B, 3, H, W)
        for b, (y0, x0) in enumerate(batch):
            xb[b, :, y0:y0 + size, x0:x0 + size] = colour
        for name, a in net.forward(xb, keep=layers).items():
            maps[name][s:s + len(batch)] = _totals(a)
    return ({name: m.T.reshape(-1, hp, wp) for name, m in maps.items()}, base)


def _totals(a):
    """(B, C, H, W) or (B, D) -> (B, C) numpy float64: each map's sum over positions."""
    return to_numpy(a.reshape(a.shape[0], a.shape[1], -1).sum(axis=2)).astype(np.float64)
