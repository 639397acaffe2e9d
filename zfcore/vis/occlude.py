"""Occlusion sensitivity (Z&F Sec. 4.2, Fig. 7): slide a grey square over the image and watch
the classifier's output and the strongest top-layer feature map."""
import numpy as np

from zfcore.backend import to_numpy, xp_of
from zfcore.distributed import shard_slice
from zfcore.layers.loss import log_softmax
from zfcore.vis.render import figure, normalise, save, show


def occluder_grid(hw, size, stride):
    """Top-left corners of the occluder: (H', W') with H' = floor((H - size) / stride) + 1."""
    h, w = hw
    if size < 1 or stride < 1 or size > min(h, w):
        raise ValueError("occluder size %r / stride %r do not fit a %dx%d image"
                         % (size, stride, h, w))
    return (h - size) // stride + 1, (w - size) // stride + 1


FILLS = {"grey": 0.0, "image": "image"}


def occluder_fill(x, fill):
    """The occluder's colour (3,) on x's device for one image x (3, H, W): a number (0.0: the
    training mean's grey, the paper's), a (3,) colour, or 'image' (x's mean colour)."""
    xp = xp_of(x)
    if isinstance(fill, str):
        if fill != "image":
            raise ValueError("fill must be a number, a colour or 'image', got %r" % (fill,))
        return x.reshape(x.shape[0], -1).mean(axis=1).astype(np.float32)
    return xp.asarray(np.broadcast_to(np.asarray(fill, dtype=np.float32), (x.shape[0],)))


def occlusion(net, x, label, size, stride, fill=0.0, layer="pool5", chunk=64, comm=None):
    """Occlusion maps of one image (Z&F Sec. 4.2, Fig. 7).

    x (3, H, W) in the net's input space (mean-subtracted, so ``fill=0.0`` is the mean grey;
    ``fill`` may also be a (3,) colour, or 'image': the image's own mean colour, a square that
    is not itself a shape on a plain background; see ``occluder_fill``). A ``size`` x ``size``
    square with top-left corner (i*stride, j*stride) is set to ``fill`` (clipped at the border),
    for i < H' = floor((H - size) / stride) + 1 and j < W' likewise; the occluded copies run as
    batches of ``chunk``.

    Returns a dict of (H', W') numpy maps indexed by the corner: 'prob' (softmax probability of
    ``label``), 'logp' (its log, which does not saturate in float32), 'top_class' (argmax class),
    'activation' (the sum over positions of the feature map of ``layer`` that is strongest, i.e.
    holds the largest activation, on the unoccluded image), and 'channel' (that map's index, an
    int).

    With ``comm`` of N > 1 ranks (``zfcore.distributed``) the positions are split: each rank runs
    one contiguous block of the chunks (the chunks of a single process, so the same numbers) and
    the maps are gathered; every rank returns the whole maps.
    """
    xp = xp_of(x)
    _, h, w = x.shape
    hp, wp = occluder_grid((h, w), size, stride)
    last = list(net.layers)[-1]
    want = [layer, last] if layer != last else [layer]
    a0 = net.forward(x[None], keep=want)[layer]
    if a0.ndim == 4:
        channel = int(to_numpy(a0[0].reshape(a0.shape[1], -1).max(axis=1)).argmax())
    else:
        channel = int(to_numpy(a0[0]).argmax())
    fill = occluder_fill(x, fill).reshape(-1, 1, 1)
    corners = [(i * stride, j * stride) for i in range(hp) for j in range(wp)]
    prob = np.empty(len(corners), dtype=np.float64)
    logp = np.empty(len(corners), dtype=np.float64)
    top = np.empty(len(corners), dtype=np.int64)
    act = np.empty(len(corners), dtype=np.float64)
    chunks = range(0, len(corners), chunk)
    if comm is not None and comm.size > 1:
        chunks = chunks[shard_slice(len(chunks), comm.rank, comm.size)]
    for s in chunks:
        batch = corners[s:s + chunk]
        xb = xp.repeat(x[None], len(batch), axis=0)              # (B, 3, H, W)
        for b, (y0, x0) in enumerate(batch):
            xb[b, :, y0:y0 + size, x0:x0 + size] = fill
        outs = net.forward(xb, keep=want)
        lp = log_softmax(outs[last])
        p = xp.exp(lp)
        prob[s:s + len(batch)] = to_numpy(p[:, int(label)])
        logp[s:s + len(batch)] = to_numpy(lp[:, int(label)])
        top[s:s + len(batch)] = to_numpy(p.argmax(axis=1))
        a = outs[layer][:, channel]
        act[s:s + len(batch)] = to_numpy(a.reshape(len(batch), -1).sum(axis=1))
    if comm is not None and comm.size > 1:
        mine = slice(chunks.start, min(chunks.stop, len(corners))) if len(chunks) else slice(0, 0)
        for part, lo, hi in comm.allgather([(prob[mine], logp[mine], top[mine], act[mine]),
                                            mine.start, mine.stop]):
            prob[lo:hi], logp[lo:hi], top[lo:hi], act[lo:hi] = part
    return {"prob": prob.reshape(hp, wp), "logp": logp.reshape(hp, wp),
            "top_class": top.reshape(hp, wp),
            "activation": act.reshape(hp, wp), "channel": channel}


def occlusion_figure(path, net, x, rgb, label, result, size, stride, class_names=None,
                     layer="pool5", projection=None, fill_name="grey"):
    """Fig. 7 for one image: (a) the image, (b) the strongest ``layer`` map's total activation
    as a function of the occluder's position, (c) the projection of that map's strongest
    activation on the unoccluded image, (d) P(true class) and (e) the most probable class, both
    as functions of the occluder's position. x (3, H, W) net input, rgb (H, W, 3) its picture."""
    if projection is None:
        projection = net.project(x[None], layer, result["channel"], position="max")[0]
    names = (class_names if class_names is not None
             else [str(c) for c in range(int(result["top_class"].max()) + 1)])
    true = names[int(label)] if int(label) < len(names) else str(label)
    fig = figure(17, 3.6)
    ax = fig.subplots(1, 5)
    h, w = rgb.shape[:2]
    # each map cell drawn where the occluder's centre was, so the maps line up with the image
    c = (size - 1) / 2.0
    hp, wp = result["prob"].shape
    extent = (c - stride / 2.0, c + (wp - 0.5) * stride, c + (hp - 0.5) * stride, c - stride / 2.0)
    at = dict(extent=extent, frame=(h, w))
    show(ax[0], rgb, "(a) input, true class: %s (%s occluder %dpx, stride %d)"
         % (true, fill_name, size, stride))
    _heat(fig, ax[1], result["activation"],
          "(b) %s map %d: total activation" % (layer, result["channel"]), "viridis", **at)
    show(ax[2], normalise(projection), "(c) projection of %s map %d" % (layer, result["channel"]))
    _heat(fig, ax[3], result["prob"], "(d) P(%s) under occlusion" % true, "jet", vmin=0.0, vmax=1.0,
          **at)
    classes = np.unique(result["top_class"])
    cmap = _cmap(len(classes))
    idx = np.searchsorted(classes, result["top_class"])
    show(ax[4], idx, "(e) most probable class under occlusion", cmap=cmap, vmin=-0.5,
         vmax=len(classes) - 0.5, extent=extent)
    _frame(ax[4], h, w)
    from matplotlib.patches import Patch
    ax[4].legend(handles=[Patch(color=cmap(k), label=names[c] if c < len(names) else str(c))
                          for k, c in enumerate(classes)], fontsize=6, loc="upper left",
                 bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return save(fig, path)


def _heat(fig, ax, m, title, cmap, frame=None, **kw):
    im = show(ax, m, title, cmap=cmap, **kw)
    if frame is not None:
        _frame(ax, *frame)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=6)


def _frame(ax, h, w):
    """Axis limits of the whole h x w image (the border the occluder's centre never reaches
    stays empty)."""
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)


def _cmap(n):
    from matplotlib.colors import ListedColormap
    import matplotlib
    base = matplotlib.colormaps["tab20" if n > 10 else "tab10"]
    return ListedColormap([base(k % base.N) for k in range(max(n, 1))])
