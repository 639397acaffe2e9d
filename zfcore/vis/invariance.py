"""Feature invariance (Z&F Sec. 4.4, Fig. 5): how far the features of layers 1 and 7 move, and
how the true class's probability changes, as an image is translated, scaled and rotated.

Transforms resample the net's input itself (bilinear, inverse-mapped about the image centre;
pixels from outside the image are ``fill``: 0 is the training mean's colour), batched over the
transform's values, on the net's device.
"""
import numpy as np

from zfcore.backend import to_numpy, xp_of
from zfcore.vis.geometry import conv_blocks, layer_number, penultimate_layer
from zfcore.layers.loss import softmax
from zfcore.vis.render import figure, save, show, to_rgb

KINDS = ("translate", "scale", "rotate")


def default_values(kind, size):
    """The paper's ranges, scaled to an input of ``size`` pixels (Z&F used 224): vertical shifts
    of -60..60 pixels, scales 1..1.8, rotations 0..350 degrees."""
    if kind == "translate":
        m = int(round(60 * size / 224.0))
        return np.linspace(-m, m, 13).round().astype(int)
    if kind == "scale":
        return np.round(np.linspace(1.0, 1.8, 9), 3)
    if kind == "rotate":
        return np.arange(0, 360, 10)
    raise ValueError("transform must be one of %s, got %r" % (KINDS, kind))


def transform(x, kind, values, fill=0.0):
    """x (3, H, W) -> (T, 3, H, W): ``kind`` 'translate' (down by v pixels), 'scale' (zoom by v
    about the centre) or 'rotate' (v degrees anticlockwise about the centre), for each v in
    ``values``. The identity (0, 1, 0) returns x exactly."""
    c, h, w = x.shape
    values = np.asarray(values, dtype=np.float64)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float64) - cy, np.arange(w, dtype=np.float64) - cx,
                         indexing="ij")
    v = values[:, None, None]
    if kind == "translate":
        sy, sx = yy[None] - v, np.broadcast_to(xx, (len(values), h, w))
    elif kind == "scale":
        sy, sx = yy[None] / v, xx[None] / v
    elif kind == "rotate":
        t = np.deg2rad(v)
        # output pixel p shows input pixel R(-t) p (y axis points down, so "anticlockwise" on
        # screen)
        cos, sin = np.cos(t), np.sin(t)
        cos = np.where(np.abs(cos) < 1e-12, 0.0, cos)
        sin = np.where(np.abs(sin) < 1e-12, 0.0, sin)
        sy, sx = cos * yy[None] + sin * xx[None], -sin * yy[None] + cos * xx[None]
    else:
        raise ValueError("transform must be one of %s, got %r" % (KINDS, kind))
    return bilinear(x, sy + cy, sx + cx, fill)


def bilinear(x, sy, sx, fill=0.0):
    """Sample x (C, H, W) at float coordinates sy, sx (T, H, W) -> (T, C, H, W); neighbours
    outside the image count as ``fill``. Integer coordinates give the pixel exactly."""
    xp = xp_of(x)
    c, h, w = x.shape
    y0, x0 = np.floor(sy), np.floor(sx)
    wy, wx = (sy - y0).astype(np.float32), (sx - x0).astype(np.float32)
    padded = xp.pad(x, ((0, 0), (1, 1), (1, 1)), constant_values=fill)   # (C, H+2, W+2)
    out = 0.0
    for dy, fy in ((0, 1.0 - wy), (1, wy)):
        for dx, fx in ((0, 1.0 - wx), (1, wx)):
            yi = np.clip(y0 + dy, -1, h).astype(np.int64) + 1          # outside -> the fill border
            xi = np.clip(x0 + dx, -1, w).astype(np.int64) + 1
            wgt = xp.asarray(fy * fx)[:, None]                         # (T, 1, H, W)
            out = out + wgt * padded[:, xp.asarray(yi), xp.asarray(xi)].transpose(1, 0, 2, 3)
    return out.astype(x.dtype)


def invariance_curves(net, x, label, kind, values=None, layers=None, fill=0.0, chunk=32):
    """Z&F Fig. 5 for one image x (3, H, W) and one transform.

    Returns {'values', 'images' (T, 3, H, W) transformed inputs (numpy), 'distance': {layer:
    (T,)}, 'prob' (T,)}: distance is ``||f(T x) - f(x)|| / ||f(x)||`` with f the layer's output
    flattened (0 at the identity; 1 means the features moved as far as their own length), prob
    the softmax probability of ``label``. ``layers`` default: layer 1 (the first conv's ReLU)
    and layer 7 (the ReLU after the last-but-one linear layer).
    """
    values = default_values(kind, x.shape[-1]) if values is None else np.asarray(values)
    layers = list(layers) if layers is not None else default_layers(net)
    xp = xp_of(x)
    last = list(net.layers)[-1]
    want = list(dict.fromkeys(layers + [last]))
    ref = net.forward(x[None], keep=want)
    ref = {name: ref[name].reshape(1, -1) for name in layers}
    xt = transform(x, kind, values, fill)
    dist = {name: [] for name in layers}
    prob = []
    for s in range(0, len(values), chunk):
        outs = net.forward(xt[s:s + chunk], keep=want)
        for name in layers:
            f = outs[name].reshape(outs[name].shape[0], -1)
            d = (xp.sqrt(((f - ref[name]) ** 2).sum(axis=1))
                 / xp.maximum(xp.sqrt((ref[name] ** 2).sum()), 1e-12))
            dist[name].append(to_numpy(d))
        prob.append(to_numpy(softmax(outs[last])[:, int(label)]))
    return {"values": values, "images": to_numpy(xt),
            "distance": {name: np.concatenate(d) for name, d in dist.items()},
            "prob": np.concatenate(prob)}


def default_layers(net):
    """Layer 1 and layer 7 of Fig. 5 (or this net's nearest equivalents)."""
    return [conv_blocks(net)[0], penultimate_layer(net)]


def invariance_figure(path, net, results, names=None, pixels=to_rgb):
    """Fig. 5: one row per transform; columns: the first image under the transform, then the
    layer-1 distance, layer-7 distance and P(true class) against the transform, one line per
    image. ``results``: {kind: [invariance_curves(...) per image]}; ``names``: the images' labels;
    ``pixels``: net inputs (3, H, W) -> picture (H, W, 3) (e.g. ``Inputs.pixels``)."""
    kinds = [k for k in KINDS if k in results]
    fig = figure(14, 2.9 * len(kinds))
    axes = fig.subplots(len(kinds), 4, squeeze=False)
    xlabel = {"translate": "vertical translation (pixels)", "scale": "scale (ratio)",
              "rotate": "rotation (degrees)"}
    for row, kind in zip(axes, kinds):
        runs = results[kind]
        first = runs[0]
        pick = np.linspace(0, len(first["values"]) - 1,
                           min(5, len(first["values"]))).round().astype(int)
        strip = np.concatenate([np.pad(pixels(first["images"][t]), ((2, 2), (2, 2), (0, 0)),
                                       constant_values=1.0) for t in pick], axis=1)
        show(row[0], strip, "%s: %s" % (kind, ", ".join(_fmt(first["values"][t]) for t in pick)))
        layers = list(first["distance"])
        for ax, name in zip(row[1:3], layers):
            for k, run in enumerate(runs):
                ax.plot(run["values"], run["distance"][name], marker=".", label=_name(names, k))
            ax.set_title("layer %d (%s): normalised distance" % (layer_number(net, name), name),
                         fontsize=8)
        for k, run in enumerate(runs):
            row[3].plot(run["values"], run["prob"], marker=".", label=_name(names, k))
        row[3].set_ylim(-0.02, 1.02)
        row[3].set_title("P(true class)", fontsize=8)
        for ax in row[1:]:
            ax.set_xlabel(xlabel[kind], fontsize=8)
            ax.tick_params(labelsize=7)
        row[3].legend(fontsize=6, loc="best")
    fig.tight_layout()
    return save(fig, path)


def _fmt(v):
    return ("%g" % v)


def _name(names, k):
    return names[k] if names is not None and k < len(names) else "image %d" % (k + 1)
