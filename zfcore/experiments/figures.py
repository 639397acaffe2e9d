"""The experiments' figures: layer-1 filters with and without renormalisation (Fig. 6a), the
transfer curve (Fig. 9), and probe accuracy per layer (Table 7 as a plot). PNGs written
atomically (``zfcore.atomic``), drawn on matplotlib's Agg canvas (``zfcore.vis.render``)."""
import os

import numpy as np

from zfcore.atomic import atomic_path
from zfcore.experiments.training import strongest_share
from zfcore.vis.filters import filter_tiles
from zfcore.vis.render import figure, mosaic, show

ARM_LABELS = {"pretrained": "pretrained on the source classes, softmax retrained",
              "scratch": "not pretrained, trained end to end"}


def save_png(fig, path, dpi=110):
    """``fig`` as a PNG at ``path`` (folders made), written atomically; returns the path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    return path


def layer1_renorm(nets, path):
    """``nets`` {'base': W, 'no-renorm': W} (layer-1 filters (C_out, C_in, k, k)): each net's
    filters on its own scale with the share of the layer's energy its strongest filter holds,
    and every filter's share, sorted (Z&F Fig. 6a: without renormalisation "one feature
    dominates"). None when there is nothing to draw."""
    if not nets:
        return None
    fig = figure(4.2 * (len(nets) + 1), 4.2)
    axes = fig.subplots(1, len(nets) + 1, squeeze=False)[0]
    for ax, (name, W) in zip(axes, nets.items()):
        tiles = filter_tiles(W)
        show(ax, mosaic(tiles, int(np.ceil(np.sqrt(len(tiles)))), pad=1),
             "%s: layer-1 filters\nstrongest filter holds %.0f%% of the energy"
             % ("renormalised (base)" if name == "base" else "no renormalisation",
                100 * strongest_share(W)))
    ax = axes[-1]
    for name, W in nets.items():
        e = np.sort((np.asarray(W, np.float64).reshape(len(W), -1) ** 2).sum(axis=1))[::-1]
        ax.plot(np.arange(1, len(e) + 1), e / e.sum(), marker="o", ms=3, label=name)
    ax.set_xlabel("filter, strongest first")
    ax.set_ylabel("share of the layer-1 energy")
    ax.set_title("energy per filter", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_png(fig, path)


def transfer_curve(rows, path, title):
    """Mean per-class accuracy against k for each arm, with the spread over the splits as
    error bars (Z&F Fig. 9); ``rows``: [{'arm', 'k', 'accuracy', 'accuracy_std'}]; chance as
    a dotted line when rows carry ``chance``."""
    fig = figure(6.4, 4.4)
    ax = fig.subplots()
    for arm in ARM_LABELS:
        mine = sorted((r for r in rows if r["arm"] == arm), key=lambda r: r["k"])
        if mine:
            ax.errorbar([r["k"] for r in mine], [100 * r["accuracy"] for r in mine],
                        yerr=[100 * r["accuracy_std"] for r in mine], marker="o", ms=4,
                        capsize=3, label=ARM_LABELS[arm])
    ax.set_xscale("log")
    ks = sorted({r["k"] for r in rows})
    ax.set_xticks(ks)
    ax.set_xticklabels([str(k) for k in ks])
    ax.set_xlabel("training images per class (k)")
    return _accuracy_axes(fig, ax, rows, title, path)


def probe_curve(rows, path, title):
    """Probe accuracy per layer (pixels, 1, 2, ...) for each classifier, with the spread over
    the splits; ``rows``: [{'layer', 'classifier', 'accuracy', 'accuracy_std'}] in layer
    order."""
    fig = figure(6.4, 4.4)
    ax = fig.subplots()
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    for clf in dict.fromkeys(r["classifier"] for r in rows):
        mine = {r["layer"]: r for r in rows if r["classifier"] == clf}
        xs = [i for i, name in enumerate(layers) if name in mine]
        ax.errorbar(xs, [100 * mine[layers[i]]["accuracy"] for i in xs],
                    yerr=[100 * mine[layers[i]]["accuracy_std"] for i in xs], marker="o",
                    ms=4, capsize=3, label=clf)
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels(layers, fontsize=8)
    ax.set_xlabel("features of layer")
    return _accuracy_axes(fig, ax, rows, title, path)


def _accuracy_axes(fig, ax, rows, title, path):
    """The accuracy axis (0-100%), chance as a dotted line, the title and legend; saved."""
    chance = [r["chance"] for r in rows if "chance" in r]
    if chance:
        ax.axhline(100 * chance[0], color="grey", ls=":", label="chance")
    ax.set_ylabel("mean per-class accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_png(fig, path)
