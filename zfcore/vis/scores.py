"""Scores against ground truth on the synthetic data set, whose object boxes and masks are known.

(a) ``occlusion_hits``: how often the occluder position that lowers the correct class's
    probability most has its centre inside the object's box; chance is the share of occluder
    positions whose centre is inside the box (the hit rate of a map whose minimum falls on a
    uniformly random position), averaged over images.
(b) ``projection_in_mask``: the share of a top-layer projection's energy (squared values, colours
    added) that falls inside the object's mask; chance is the mask's share of the image (the
    expected share of a map whose pixels carry independent, identically distributed energy).
"""
import numpy as np

from zfcore.backend import to_numpy
from zfcore.vis.geometry import top_conv_layer
from zfcore.vis.occlude import occluder_grid, occlusion
from zfcore.vis.probe import strongest


def occluder_centres(hw, size, stride):
    """Centres (H', W', 2) (row, column) of the occluder positions, in pixels."""
    hp, wp = occluder_grid(hw, size, stride)
    c = (size - 1) / 2.0
    cy, cx = np.meshgrid(np.arange(hp) * stride + c, np.arange(wp) * stride + c, indexing="ij")
    return np.stack([cy, cx], axis=-1)


def inside(box, points):
    """Whether points (..., 2) lie in box (y0, x0, y1, x1), end exclusive."""
    y0, x0, y1, x1 = box
    return ((points[..., 0] >= y0) & (points[..., 0] < y1)
            & (points[..., 1] >= x0) & (points[..., 1] < x1))


def occlusion_hits(net, x, labels, boxes, size, stride, fill=0.0, layer=None, progress=None,
                   comm=None):
    """Score (a) over images x (N, 3, H, W) with labels (N,) and object boxes (N, 4).

    Returns {'hit_rate', 'chance', 'n', 'hits' (N,)}: an image scores 1 when the minimum of its
    'prob' occlusion map lies at a position whose centre is in the box. Where several positions
    share the minimum (within 1e-6 of the map's range, e.g. a saturated or blind net) it scores
    the share of them that are inside: the expected hit of breaking the tie at random, so a flat
    map scores exactly the chance level. ``comm``: the sweeps split over its ranks (``occlusion``).
    """
    layer = layer or top_conv_layer(net)
    centres = occluder_centres(x.shape[2:], size, stride)
    hits, chance = [], []
    for k in range(x.shape[0]):
        # log P ranks the positions as P does, without P's float32 saturation at 1.0 (which
        # would tie every position of a confident net)
        prob = occlusion(net, x[k], int(labels[k]), size, stride, fill, layer, comm=comm)["logp"]
        tied = prob <= prob.min() + 1e-6 * max(prob.max() - prob.min(), 1e-12)
        hits.append(float(inside(boxes[k], centres[tied]).mean()))
        chance.append(float(inside(boxes[k], centres).mean()))
        if progress is not None:
            progress(1)
    return {"hit_rate": float(np.mean(hits)), "chance": float(np.mean(chance)), "n": len(hits),
            "hits": np.array(hits)}


def projection_in_mask(net, x, masks, layer=None, mode="deconv", chunk=64):
    """Score (b) over images x (N, 3, H, W) with object masks (N, H, W) bool.

    Per image: the map of ``layer`` (default the last conv block, 'pool5') with the largest
    activation, its strongest activation projected to pixels; the share of the projection's
    energy inside the mask. Returns {'share', 'chance', 'n', 'shares' (N,)}; images whose
    projection is all zero are left out.
    """
    layer = layer or top_conv_layer(net)
    shares = []
    masks = np.asarray(masks, dtype=bool)
    for s in range(0, x.shape[0], chunk):
        xb = x[s:s + chunk]
        a = net.forward(xb, until=layer)
        values, _ = strongest(a)
        channels = to_numpy(values.argmax(axis=1))
        r = net.project_units(xb, layer, channels, "max", mode=mode, chunk=chunk)
        energy = to_numpy((r ** 2).sum(axis=1))                  # (B, H, W)
        m = masks[s:s + chunk]
        total = energy.sum(axis=(1, 2))
        ins = (energy * m).sum(axis=(1, 2))
        shares.extend(np.where(total > 0, ins / np.where(total > 0, total, 1), np.nan))
    shares = np.array(shares)
    ok = ~np.isnan(shares)
    chance = masks.reshape(masks.shape[0], -1).mean(axis=1)
    return {"share": float(shares[ok].mean()) if ok.any() else float("nan"),
            "chance": float(chance[ok].mean()) if ok.any() else float("nan"),
            "n": int(ok.sum()), "shares": shares}
