"""Layer-1 filters and the architecture comparison of Z&F Sec. 4.1 / 5, Fig. 6.

Z&F found that Krizhevsky's first layer (11x11 filters, stride 4) has many filters that carry
almost nothing ("dead") and that its layer-2 features show aliasing (Fig. 6 b, d); 7x7 filters
at stride 2 fix both (Fig. 6 c, e). Two numbers make this measurable:

- ``dead_fraction``: the share of layer-1 filters whose RMS is below ``rel`` (5%) of the
  largest filter RMS of the layer.
- ``high_freq_share``: the share of a picture's spectral energy (mean removed, colours added)
  at radial frequencies above half the Nyquist frequency (0.25 cycles per pixel): 1 for a
  pixel checkerboard, near 0 for a smooth blob. Averaged over layer-2 projections it measures
  the aliasing of Fig. 6 (d).
"""
import numpy as np

from zfcore.backend import to_numpy
from zfcore.layers import Conv2D
from zfcore.vis.geometry import conv_blocks, receptive_fields, rf_boxes
from zfcore.vis.render import figure, mosaic, normalise, save, show
from zfcore.vis.topk import pick_maps, top_activations


def first_conv(net):
    return next(layer for layer in net.layers.values() if isinstance(layer, Conv2D))


def filter_tiles(W):
    """Conv filters W (C_out, C_in, k, k) -> tiles (C_out, k, k, 3) in [0, 1], all on one scale
    (zero mid-grey, the layer's largest |weight| at 0 or 1), so weak filters look weak. Filters
    on other than 3 input channels are shown as grey from their first channel."""
    W = to_numpy(W).astype(np.float64)
    if W.shape[1] != 3:
        W = np.repeat(W[:, :1], 3, axis=1)
    peak = np.abs(W).max()
    tiles = 0.5 + 0.5 * W / (peak if peak > 0 else 1.0)
    return tiles.transpose(0, 2, 3, 1)


def dead_fraction(W, rel=0.05):
    """Share of filters of W (C_out, ...) whose RMS is below ``rel`` times the largest RMS."""
    W = to_numpy(W).astype(np.float64)
    rms = np.sqrt((W.reshape(W.shape[0], -1) ** 2).mean(axis=1))
    if rms.max() == 0:
        return 1.0
    return float((rms < rel * rms.max()).mean())


def high_freq_share(images, cutoff=0.5):
    """Per picture of ``images`` (N, C, H, W) or (N, H, W): the share of its spectral energy
    (after removing each channel's mean; channels added) at radial frequency above ``cutoff``
    times Nyquist. Returns (N,); a picture with no energy gives 0."""
    a = to_numpy(images).astype(np.float64)
    if a.ndim == 3:
        a = a[:, None]
    a = a - a.mean(axis=(-2, -1), keepdims=True)
    power = (np.abs(np.fft.fft2(a)) ** 2).sum(axis=1)            # (N, H, W)
    fy = np.fft.fftfreq(a.shape[-2])[:, None]
    fx = np.fft.fftfreq(a.shape[-1])[None, :]
    high = np.sqrt(fy ** 2 + fx ** 2) > cutoff * 0.5
    total = power.sum(axis=(1, 2))
    return np.where(total > 0, (power * high).sum(axis=(1, 2)) / np.where(total > 0, total, 1), 0.0)


def layer2_projections(net, inputs, layer=None, n_maps=16, seed=0, mode="deconv"):
    """For ``n_maps`` live feature maps of layer 2 (default: the second conv's ReLU): the
    strongest activation over ``inputs``, projected. Returns (raw (M, 3, h, w) cropped to the
    receptive field, maps)."""
    layer = layer or conv_blocks(net)[1]
    top = top_activations(net, inputs, [layer], k=1)[layer]
    maps = pick_maps(top, n_maps, seed)
    img, ii, jj = top.image[maps, 0], top.i[maps, 0], top.j[maps, 0]
    r = to_numpy(net.project_units(inputs.x(img), layer, maps, ii, jj, mode=mode))
    boxes = rf_boxes(receptive_fields(net)[layer], ii, jj, inputs.hw)
    raw = np.stack([ri[:, y0:y1, x0:x1] for ri, (y0, x0, y1, x1) in zip(r, boxes)]) \
        if len(maps) else \
        np.zeros((0, 3, 1, 1))
    return raw, maps


def compare_architectures(nets, inputs, path=None, n_maps=16, seed=0):
    """Fig. 6 side by side for two (or more) trained nets ``nets`` {name: net}: layer-1 filters
    and layer-2 projections, with each net's dead-filter fraction and the high-frequency share
    of its layer-2 projections. ``inputs``: one ``Inputs`` for all, or {name: Inputs} (each net
    with its own training mean). Returns {name: {'dead_fraction', 'aliasing', 'maps'}} and, with
    ``path``, draws the figure there."""
    stats, pictures = {}, {}
    for name, net in nets.items():
        W = first_conv(net).params["W"]
        seen = inputs[name] if isinstance(inputs, dict) else inputs
        raw, maps = layer2_projections(net, seen, n_maps=n_maps, seed=seed)
        share = high_freq_share(raw)
        stats[name] = {"dead_fraction": dead_fraction(W),
                       "aliasing": float(share.mean()) if len(share) else float("nan"),
                       "maps": [int(c) for c in maps]}
        pictures[name] = (filter_tiles(W), normalise(raw) if len(raw) else None)
    if path is not None:
        fig = figure(12, 5.2 * len(nets))
        axes = fig.subplots(len(nets), 2, squeeze=False)
        for (name, (tiles, proj)), row in zip(pictures.items(), axes):
            s = stats[name]
            k = tiles.shape[1]
            show(row[0], mosaic(tiles, int(np.ceil(np.sqrt(len(tiles)))), pad=1),
                 "%s: layer-1 filters (%dx%d); dead (RMS < 5%% of max): %.0f%%"
                 % (name, k, k, 100 * s["dead_fraction"]))
            if proj is not None:
                show(row[1], mosaic(proj, int(np.ceil(np.sqrt(len(proj)))), pad=1),
                     "%s: layer-2 projections; energy above Nyquist/2: %.1f%%"
                     % (name, 100 * s["aliasing"]))
            else:
                row[1].set_axis_off()
        fig.tight_layout()
        save(fig, path)
    return stats


def filters_figure(path, net, title="layer-1 filters"):
    """Fig. 6 (c): the first conv layer's filters on one common scale."""
    W = first_conv(net).params["W"]
    tiles = filter_tiles(W)
    fig = figure(6, 6)
    show(fig.subplots(), mosaic(tiles, int(np.ceil(np.sqrt(len(tiles)))), pad=1),
         "%s (%dx%d); dead (RMS < 5%% of max): %.0f%%" % (title, W.shape[2], W.shape[3],
                                                        100 * dead_fraction(W)))
    return save(fig, path)

