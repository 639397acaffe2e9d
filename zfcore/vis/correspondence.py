"""Correspondence analysis (Z&F Sec. 4.3, Table 1).

Mask the same part of the object in several images of one class and see whether the features
change the same way. With eps_i^l = x_i^l - x~_i^l the change of layer l's feature vector when
image i is masked, the paper's measure is

    Delta_l = sum_{i != j} H(sign(eps_i^l), sign(eps_j^l))      (H: Hamming distance)

lower meaning more consistent. Here it is reported per pair and per feature (the sum divided by
n(n-1) D), so numbers from different layers and group sizes compare; a control masks a square
of the same size at a random place in each image.
"""
import numpy as np

from zfcore.backend import to_numpy, xp_of
from zfcore.vis.geometry import penultimate_layer, top_conv_layer

PARTS = ("top-left", "top-right", "bottom-left", "bottom-right")


def sign_hamming_sum(eps, tol=0.0):
    """sum_{i != j} H(sign(eps_i), sign(eps_j)) for eps (n, D), as a float; entries with
    |eps| <= tol count as sign 0 (no change)."""
    xp = xp_of(eps)
    s = xp.sign(eps) * (xp.abs(eps) > tol)
    d = s.shape[1]
    same = 0.0
    for v in (-1, 0, 1):
        e = (s == v).astype(np.float64)                          # (n, D)
        same = same + e @ e.T                                    # pairs agreeing on sign v
    h = d - same                                                 # (n, n); zero diagonal
    return float(to_numpy(h.sum()))


def features(net, x, layers, chunk=64):
    """{layer: (n, D)} flattened outputs of ``layers`` for x (n, 3, H, W), ``chunk`` at a time."""
    xp = xp_of(x)
    parts = {name: [] for name in layers}
    for s in range(0, x.shape[0], chunk):
        outs = net.forward(x[s:s + chunk], keep=layers)
        for name in layers:
            parts[name].append(outs[name].reshape(outs[name].shape[0], -1))
    return {name: xp.concatenate(p, axis=0) for name, p in parts.items()}


def delta(net, x, x_masked, layers, chunk=64, ref=None, rel_tol=1e-5):
    """{layer: Delta_l / (n (n-1) D)} for images x (n, 3, H, W) and their masked copies
    x_masked (n, 3, H, W), or several sets of them (V, n, 3, H, W) -> {layer: (V,) array}.
    ``ref``: the features of x, if already computed (by ``features`` with the same ``chunk``).

    The measure counts changes the mask made, not floating-point noise, in two ways: every set
    of masked copies runs in exactly the batches the originals ran in (same sizes, same rows),
    so a feature the mask cannot reach is computed by the same operations and its difference is
    exactly 0; and a difference counts as a sign only above ``rel_tol`` times the layer's
    largest |feature| on the originals (for devices whose products are not reproducible).
    """
    ref = ref if ref is not None else features(net, x, layers, chunk)
    n = x.shape[0]
    many = x_masked.ndim == 5
    sets = x_masked if many else x_masked[None]
    xp = xp_of(x)
    tol = {name: rel_tol * float(to_numpy(xp.abs(ref[name]).max())) for name in layers}
    vals = {name: [] for name in layers}
    for xm in sets:
        masked = features(net, xm, layers, chunk)                 # the originals' batches
        for name in layers:
            d = ref[name].shape[1]
            h = sign_hamming_sum(ref[name] - masked[name], tol[name])
            vals[name].append(h / max(n * (n - 1) * d, 1))
    return {name: np.array(v) if many else v[0] for name, v in vals.items()}


def mask_boxes(x, boxes, fill=0.0):
    """Copies of x (n, 3, H, W) with box k (y0, x0, y1, x1) of image k set to ``fill``."""
    xm = x.copy()
    for k, (y0, x0, y1, x1) in enumerate(np.asarray(boxes, dtype=int)):
        xm[k, :, y0:y1, x0:x1] = fill
    return xm


def part_boxes(obj_boxes, part, hw):
    """The ``part`` quadrant ('top-left', ...) of each object box (n, 4) (y0, x0, y1, x1), at
    least 2 pixels a side, inside an image of size ``hw``."""
    b = np.asarray(obj_boxes, dtype=np.float64)
    y0, x0, y1, x1 = b.T
    my, mx = (y0 + y1) / 2.0, (x0 + x1) / 2.0
    top, left = part.startswith("top"), part.endswith("left")
    if part not in PARTS:
        raise ValueError("part must be one of %s, got %r" % (PARTS, part))
    ys = np.where(top, y0, my), np.where(top, my, y1)
    xs = np.where(left, x0, mx), np.where(left, mx, x1)
    out = np.stack([np.floor(ys[0]), np.floor(xs[0]), np.ceil(ys[1]), np.ceil(xs[1])],
                   axis=1).astype(int)
    out[:, 2] = np.maximum(out[:, 2], out[:, 0] + 2)
    out[:, 3] = np.maximum(out[:, 3], out[:, 1] + 2)
    h, w = hw
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, h)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, w)
    return out


def random_boxes(boxes, hw, rng):
    """Boxes of the same sizes as ``boxes``, each at a uniformly random place in the image."""
    b = np.asarray(boxes, dtype=int)
    hs, ws = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    y0 = rng.integers(0, hw[0] - hs + 1)
    x0 = rng.integers(0, hw[1] - ws + 1)
    return np.stack([y0, x0, y0 + hs, x0 + ws], axis=1)


def correspondence_table(net, groups, parts=PARTS, layers=None, n_random=5, seed=0, fill=0.0):
    """Table 1 on groups of images, one group per class.

    ``groups``: a list of (x (n, 3, H, W), object boxes (n, 4)), n >= 2. For every part (a
    quadrant of each object's box) and for the random control (a square of that part's size at
    a random place, ``n_random`` draws per part), Delta of every layer in ``layers`` (default:
    Z&F's layers 5 and 7: the last conv block's output and the ReLU after the last-but-one
    linear layer). Returns {row: {layer: (mean, std)}} over the groups (and draws): rows are the
    parts and 'random'."""
    layers = list(layers) if layers is not None else [top_conv_layer(net), penultimate_layer(net)]
    rng = np.random.default_rng(seed)
    rows = {part: {name: [] for name in layers} for part in parts}
    rows["random"] = {name: [] for name in layers}
    for x, obj in groups:
        if x.shape[0] < 2:
            continue
        hw = x.shape[2:]
        ref = features(net, x, layers)
        variants, rows_of = [], []
        for part in parts:
            pb = part_boxes(obj, part, hw)
            variants.append(mask_boxes(x, pb, fill))
            rows_of.append(part)
            for _ in range(n_random):
                variants.append(mask_boxes(x, random_boxes(pb, hw, rng), fill))
                rows_of.append("random")
        xp = xp_of(x)
        d = delta(net, x, xp.stack(variants), layers, ref=ref)
        for name in layers:
            for row, v in zip(rows_of, d[name]):
                rows[row][name].append(float(v))
    return {row: {name: (float(np.mean(v)) if v else float("nan"),
                         float(np.std(v)) if v else float("nan"))
                  for name, v in cols.items()} for row, cols in rows.items()}


def table_html(table):
    """Table 1 as an HTML table: rows parts + random, columns layers, cells mean +- std."""
    layers = list(next(iter(table.values())))
    head = "".join("<th>%s</th>" % name for name in layers)
    body = "".join("<tr><td>%s</td>%s</tr>"
                   % (row, "".join("<td>%.4f &plusmn; %.4f</td>" % cols[name] for name in layers))
                   for row, cols in table.items())
    return "<table><tr><th>occluded</th>%s</tr>%s</table>" % (head, body)
