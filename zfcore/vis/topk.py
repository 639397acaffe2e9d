"""Top-9 activations and their projections (Z&F Sec. 4, Fig. 2).

For every chosen layer and feature map: the 9 images of a dataset whose strongest activation in
that map is the largest (one per image, as the paper), found in one pass over the data for all
layers at once with a running top-k per map; then each of those activations alone projected to
pixel space by the deconvnet, beside the image patch its receptive field covers.

With a communicator of N > 1 ranks (``comm``, ``zfcore.distributed``) each rank scans one
contiguous block of the batches and ``merge_topk`` joins the ranks' lists: the k largest by
(value, then the earlier image), which is the order the single pass keeps, so the result is the
single-process one exactly.
"""
from collections import namedtuple

import numpy as np

from zfcore.backend import to_numpy, xp_of
from zfcore.distributed import shard_slice
from zfcore.vis.geometry import conv_blocks, layer_number, receptive_fields, rf_boxes
from zfcore.vis.probe import strongest
from zfcore.vis.render import crop, figure, mosaic, normalise, save, show

TopK = namedtuple("TopK", "layer values image i j")
TopK.__doc__ = """The k strongest activations per feature map of one layer, strongest first:
``values`` (C, k) float, ``image`` (C, k) index into the inputs (-1 where fewer than k images
were seen), ``i``, ``j`` (C, k) the position in the layer's output (0 for a linear layer)."""


class RunningTopK:
    """The k largest of (value, image, flat position) per channel, merged batch by batch.

    Ties keep the earlier image (a stable sort over [kept so far, new batch])."""

    def __init__(self, channels, k, xp=np):
        self.k, self.xp = k, xp
        self.values = xp.full((channels, k), -np.inf, dtype=np.float32)
        self.image = xp.full((channels, k), -1, dtype=np.int64)
        self.pos = xp.zeros((channels, k), dtype=np.int64)

    def update(self, values, pos, first_image):
        """values, pos (B, C): each image's strongest activation per channel and where it is."""
        xp = self.xp
        b, c = values.shape
        images = xp.broadcast_to(xp.arange(first_image, first_image + b, dtype=np.int64)[:, None],
                                 (b, c))
        v = xp.concatenate([self.values, values.T.astype(np.float32)], axis=1)   # (C, k+B)
        im = xp.concatenate([self.image, images.T], axis=1)
        ps = xp.concatenate([self.pos, pos.T.astype(np.int64)], axis=1)
        order = _argsort_desc(v)[:, :self.k]
        self.values = xp.take_along_axis(v, order, axis=1)
        self.image = xp.take_along_axis(im, order, axis=1)
        self.pos = xp.take_along_axis(ps, order, axis=1)


def _argsort_desc(v):
    """Indices sorting each row of v descending; stable, so equal values keep their order."""
    xp = xp_of(v)
    if xp is np:
        return np.argsort(-v, axis=1, kind="stable")
    return xp.argsort(-v, axis=1)  # CuPy's sort is a stable radix sort


def top_activations(net, inputs, layers=None, k=9, batch_size=64, progress=None, comm=None):
    """One pass over ``inputs`` (a ``zfcore.vis.probe.Inputs``) for all ``layers`` at once
    (default: the ReLU after every conv). Returns {layer: TopK} with the k images whose
    strongest activation in each map is largest, strongest first. With ``comm`` of N > 1
    ranks: this rank's block of the batches, then the ranks' lists merged (every rank gets the
    whole result)."""
    layers = list(layers) if layers is not None else conv_blocks(net)
    tops = {}
    if comm is not None and comm.size > 1 and net.input_shape is not None:
        # a rank may get no batch at all (fewer batches than ranks): it still brings its empty
        # lists to every merge below, so every rank makes the same collective calls
        shapes = dict(net.shapes())
        tops = {name: (RunningTopK(shapes[name][0], k, getattr(inputs, "xp", np)),
                       tuple(shapes[name][1:]))
                for name in layers}
    for start, x in _batches(inputs, batch_size, comm):
        outs = net.forward(x, keep=layers)
        for name in layers:
            a = outs[name]
            if name not in tops:
                tops[name] = (RunningTopK(a.shape[1], k, xp_of(a)), a.shape[2:])
            values, pos = strongest(a)
            tops[name][0].update(values, pos, start)
        if progress is not None:
            progress(x.shape[0])
    result = {}
    for name, (run, hw) in tops.items():
        values, image, pos = to_numpy(run.values), to_numpy(run.image), to_numpy(run.pos)
        if comm is not None and comm.size > 1:
            values, image, pos = merge_topk(comm.allgather((values, image, pos)), k)
        width = hw[1] if len(hw) == 2 else 1
        result[name] = TopK(name, values, image, pos // width, pos % width)
    return result


def _batches(inputs, batch_size, comm):
    """(start, x) of ``inputs.batches``; with N > 1 ranks only this rank's block of them."""
    if comm is None or comm.size == 1:
        yield from inputs.batches(batch_size)
        return
    n = len(inputs)
    starts = range(0, n, batch_size)
    for start in starts[shard_slice(len(starts), comm.rank, comm.size)]:
        yield start, inputs.x(np.arange(start, min(start + batch_size, n)))


def merge_topk(parts, k):
    """The k best of several ``RunningTopK`` lists [(values, image, pos) (C, k_i)], per
    channel: larger value first, on equal values the earlier image (what one pass over all the
    images keeps); slots never filled (image -1, value -inf) last."""
    values = np.concatenate([p[0] for p in parts], axis=1)
    image = np.concatenate([p[1] for p in parts], axis=1)
    pos = np.concatenate([p[2] for p in parts], axis=1)
    order = np.lexsort((image, -values), axis=1)[:, :k]
    return (np.take_along_axis(values, order, axis=1), np.take_along_axis(image, order, axis=1),
            np.take_along_axis(pos, order, axis=1))


def pick_maps(top, n, seed=0):
    """Up to ``n`` feature maps to show, sorted: a random choice (seeded) among the maps whose
    strongest activation is positive (dead maps project to nothing)."""
    live = np.flatnonzero(top.values[:, 0] > 0)
    if len(live) <= n:
        return live
    return np.sort(np.random.default_rng(seed).choice(live, n, replace=False))


def project_top(net, inputs, top, maps, mode="deconv", chunk=64):
    """Projections and patches for the top-k of the feature maps ``maps`` of ``top``.

    Returns (proj, patches, boxes): proj (M, k, h, w, 3) and patches (M, k, h, w, 3) in [0, 1],
    both cropped to the receptive-field boxes (M, k, 4) (see ``geometry.rf_boxes``); proj is
    contrast-normalised per projection. Slots without a positive activation (a map that fires in
    fewer than k images, or fewer than k images seen) are left white.
    """
    maps = np.asarray(maps)
    m, k = len(maps), top.values.shape[1]
    img = top.image[maps].reshape(-1)                            # (M*k,)
    ch = np.repeat(maps, k)
    ii, jj = top.i[maps].reshape(-1), top.j[maps].reshape(-1)
    ok = (img >= 0) & (top.values[maps].reshape(-1) > 0)      # a zero activation shows nothing
    hw = inputs.hw
    rf = receptive_fields(net)[top.layer]
    boxes = rf_boxes(rf, ii, jj, hw)
    h, w = boxes[0, 2] - boxes[0, 0], boxes[0, 3] - boxes[0, 1]
    proj = np.ones((m * k, h, w, 3))
    patches = np.ones((m * k, h, w, 3))
    if ok.any():
        x = inputs.x(img[ok])
        r = net.project_units(x, top.layer, ch[ok], ii[ok], jj[ok], mode=mode, chunk=chunk)
        proj[ok] = crop(normalise(r), boxes[ok])
        patches[ok] = crop(inputs.rgb(img[ok]), boxes[ok])
    return proj.reshape(m, k, h, w, 3), patches.reshape(m, k, h, w, 3), boxes.reshape(m, k, 4)


def top9_figure(path, net, layer, proj, patches, maps, ncols=4):
    """Z&F Fig. 2 for one layer: left, per feature map a 3x3 block of projections; right, the
    same layout of the corresponding image patches."""
    m, k = proj.shape[:2]
    side = int(np.ceil(np.sqrt(k)))
    ncols = min(ncols, m)

    def blocks(tiles):
        # dark lines inside a block (white patches stay visible), white space between blocks
        per_map = [mosaic(t, side, pad=1, pad_value=0.3) for t in tiles]    # (M, bh, bw, 3)
        return mosaic(np.stack(per_map), ncols, pad=max(3, tiles.shape[2] // 4))

    left, right = blocks(proj), blocks(patches)
    fig = figure(12, 6.2 * left.shape[0] / left.shape[1] + 0.8)
    axes = fig.subplots(1, 2)
    n = layer_number(net, layer)
    show(axes[0], left, "layer %d (%s): top-%d projections, maps %s" % (n, layer, k, _short(maps)))
    show(axes[1], right, "layer %d (%s): the corresponding image patches" % (n, layer))
    fig.tight_layout()
    return save(fig, path)


def _short(maps):
    maps = [int(c) for c in maps]
    return (", ".join(map(str, maps)) if len(maps) <= 8
            else "%s, ... (%d)" % (", ".join(map(str, maps[:6])), len(maps)))
