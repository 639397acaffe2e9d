"""Ablation and resizing of the layers (Z&F Sec. 5.1, Table 3), and the net trained without
the RMS renormalisation of its filters (Sec. 3, Fig. 6a).

Every variant (``zfcore.experiments.specs.VARIANTS``) of the base net is trained from scratch
with the same recipe and budget on the source classes (``classes='all'``: every class of the
dataset), once per seed (the seed draws
the init and the data order; the images are the same), and scored as the paper's table: train
top-1 error (the centre crop of the training images, after training), validation top-1 and
top-5 error, and the number of parameters; over the seeds, the mean and the standard
deviation. Each (variant, seed) is one unit of work (``zfcore.experiments.store``).

The paper's finding to check: removing any single layer (fc7, or fc6 and fc7, or conv3 and
conv4) costs little, removing both the middle convs and the fully connected layers (a much
shallower net) costs a lot: the depth matters more than any single layer. Without the
renormalisation, one layer-1 filter comes to hold most of the layer's energy.
"""
import os

import numpy as np

from zfcore.experiments import figures
from zfcore.experiments.config import base_spec
from zfcore.experiments.specs import DEFAULT_VARIANTS, VARIANTS, param_count, widths
from zfcore.experiments.store import Store, read, write_json
from zfcore.experiments.training import (errors, layer1_filters, mean_std, strongest_share,
                                         train)
from zfcore.models import build

# Sized for the synthetic default on a small CPU: 100 images of each of the 6 source classes,
# 8 epochs of batch 16 (304 steps, about 5,000 image passes a unit). No lr drops: on so short
# a run the plateau rule fires on the noise of the first epochs, at chance, and the net
# never takes off (60 images a class with drops: 82% val error, chance 83%).
BUDGET = dict(epochs=8, batch_size=16, lr=0.01, max_lr_drops=0)
PER_CLASS, VAL_PER_CLASS = 100, 40
SEEDS = (0, 1)
METRICS = ("train_top1_err", "val_top1_err", "val_top5_err")
FILTER_VARIANTS = ("base", "no-renorm")      # whose layer-1 filters a unit keeps


def trained_classes(setup, classes):
    """The classes the variants are trained on: 'source' (default) or 'all'."""
    if classes not in ("source", "all"):
        raise ValueError("classes must be 'source' or 'all', got %r" % (classes,))
    return list(setup.source_classes) + (list(setup.target_classes) if classes == "all" else [])


def protocol(setup, variants, seeds, budget, per_class, val_per_class, classes):
    return dict(setup.protocol(), experiment="ablation (Z&F Sec. 5.1, Table 3)",
                classes=classes, trained_classes=trained_classes(setup, classes),
                variants=sorted(variants), seeds=list(seeds),
                budget=budget, per_class=per_class, val_per_class=val_per_class,
                scores="train top-1 (centre crop, after training), val top-1/top-5 error")


def run(root, setup, variants=DEFAULT_VARIANTS, seeds=SEEDS, budget=None, per_class=PER_CLASS,
        val_per_class=VAL_PER_CLASS, classes="source", log=print):
    """Train and score every (variant, seed) not yet done under ``root/ablation``; write
    ``results.json`` (the table) and ``figures/layer1_renorm.png`` there. Returns the rows."""
    budget = dict(budget or BUDGET)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError("unknown variant %s (known: %s)" % (", ".join(unknown),
                                                            ", ".join(VARIANTS)))
    store = Store(os.path.join(root, "ablation"),
                  protocol(setup, variants, seeds, budget, per_class, val_per_class, classes),
                  log)
    classes = trained_classes(setup, classes)
    data = {}

    def datasets():                      # opened only when some unit has work to do
        if not data:
            data["train"] = setup.open("train", classes, per_class)
            data["val"] = setup.open("val", classes, val_per_class, mean=data["train"].mean)
        return data["train"], data["val"]

    base = setup.base_spec(len(classes))
    for seed in seeds:                  # every variant once before any twice: a run cut
        for name in variants:           # short still has the whole table
            store.run("%s-seed%d" % (name, seed),
                      lambda: unit(VARIANTS[name], base, seed, budget, *datasets(),
                                   device=setup.device))
    return summarise(root)


def summarise(root):
    """The table of the units done so far under ``root/ablation`` (``results.json``) and the
    layer-1 figure; returns the rows (None where nothing was run)."""
    path = os.path.join(root, "ablation")
    proto, results = read(path)
    if proto is None:
        return None
    base = base_spec(proto["arch"], proto["width"], len(proto["trained_classes"]))
    rows = table(results, proto["variants"], base)
    write_json(os.path.join(path, "results.json"), {"protocol": proto, "rows": rows})
    figures.layer1_renorm(filters_of(results), os.path.join(path, "figures", "layer1_renorm.png"))
    return rows


def unit(variant, base, seed, budget, train_ds, val_ds, device="numpy"):
    """Train ``variant`` of ``base`` from scratch (init and data order from ``seed``) and
    score it."""
    spec = variant.spec(base)
    net = build(spec, seed=seed)
    history = train(net, train_ds, val_ds, budget, seed, overrides=variant.training,
                    device=device)
    tr, va = errors(net, train_ds, device), errors(net, val_ds, device)
    W = layer1_filters(net)
    out = dict(variant=variant.name, seed=seed, params=param_count(spec), widths=widths(spec),
               train_top1_err=tr["top1"], val_top1_err=va["top1"], val_top5_err=va["top5"],
               layer1_strongest_share=strongest_share(W), layer1_filters=len(W),
               epochs=len(history), last_epoch=history[-1] if history else None)
    if variant.name in FILTER_VARIANTS:
        out["layer1_W"] = np.round(W.astype(np.float64), 6).tolist()
    return out


def table(results, variants, base=None):
    """One row per variant, in the paper's order: its paper label, parameters, seeds done, and
    the mean and spread of each score over them."""
    rows = []
    for name in [v for v in VARIANTS if v in variants]:
        done = [r for r in results.values() if r["variant"] == name]
        row = dict(variant=name, paper=VARIANTS[name].paper, seeds=len(done),
                   params=done[0]["params"] if done else
                   param_count(VARIANTS[name].spec(base)) if base else None,
                   layer1_filters=done[0]["layer1_filters"] if done else None)
        for m in METRICS + ("layer1_strongest_share",):
            row[m], row[m + "_std"] = mean_std([r[m] for r in done])
        rows.append(row)
    return rows


def filters_of(results):
    """{variant: layer-1 filters (first seed)} of the variants whose units keep them."""
    nets = {}
    for name in FILTER_VARIANTS:
        done = sorted((r for r in results.values() if r["variant"] == name and "layer1_W" in r),
                      key=lambda r: r["seed"])
        if done:
            nets[name] = np.asarray(done[0]["layer1_W"])
    return nets
