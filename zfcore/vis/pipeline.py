"""Every visualisation for one trained net and a set of images, written into one folder with its
``report.html``: what ``python -m zfcore.visualize`` runs, callable without the command line."""
import glob
import json
import os
import shutil
import tempfile

import numpy as np

from zfcore.atomic import atomic_write
from zfcore.backend import to_numpy

from zfcore.vis.correspondence import correspondence_table, table_html
from zfcore.vis.filters import (dead_fraction, filters_figure, first_conv, high_freq_share,
                                layer2_projections)
from zfcore.vis.geometry import conv_blocks, layer_number, top_conv_layer
from zfcore.vis.invariance import KINDS, default_layers, invariance_curves, invariance_figure
from zfcore.vis.occlude import FILLS, occlusion, occlusion_figure
from zfcore.vis.probe import Inputs
from zfcore.vis.report import Report
from zfcore.vis.scores import occlusion_hits, projection_in_mask
from zfcore.vis.topk import pick_maps, project_top, top9_figure, top_activations

WHAT = ("top9", "evolution", "invariance", "filters", "occlusion", "correspondence", "scores")


class Sample:
    """The images to look at, as the net sees them: centre-cropped to the net's input, with the
    object boxes and masks (synthetic data) moved into the crop.

    images (N, S, S, 3) uint8, labels (N,), mean (S, S, 3) float32 (the training mean); boxes
    (N, 4) (y0, x0, y1, x1) and masks (N, S, S) bool or None; ``crop`` the net's input side.
    """

    def __init__(self, images, labels, mean, crop, class_names=None, boxes=None, masks=None, xp=np):
        images = np.asarray(images)
        s = images.shape[1]
        off = (s - crop) // 2
        self.inputs = Inputs.from_images(images, mean, crop, xp=xp)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.class_names = list(class_names) if class_names is not None else None
        self.boxes = None if boxes is None else np.clip(np.asarray(boxes, dtype=int) - off, 0, crop)
        self.masks = (None if masks is None
                      else np.asarray(masks, dtype=bool)[:, off:off + crop, off:off + crop])

    def __len__(self):
        return len(self.labels)

    def name(self, label):
        label = int(label)
        if self.class_names is not None and label < len(self.class_names):
            return self.class_names[label]
        return "class %d" % label


def visualize(net, sample, out_dir, what=WHAT, run_dir=None, n_maps=16, occluder=None, stride=None,
              n_show=3, n_score=50, seed=0, progress=None, title="zfcore: inside the net",
              comm=None):
    """Run the visualisations in ``what`` (a subset of ``WHAT``) for ``net`` on ``sample`` (a
    ``Sample``); figures go to ``out_dir/figures``, the numbers to ``out_dir/scores.json``, and
    everything to ``out_dir/report.html``. ``run_dir``: the training run's folder, whose
    ``figures/evolution_*.png`` (from ``train --evolution``) are copied. Returns (report path,
    scores dict). ``progress(name)`` is called as each step starts, with its name (one of
    ``WHAT``), so a progress bar can show the step that is running.

    ``comm`` of N > 1 ranks (``zfcore.distributed``): every rank runs every step, the top-9 scan
    and the occlusion sweeps split over the ranks (``top_activations``, ``occlusion``: the same
    results as one process, exactly); only rank 0 writes ``out_dir`` (the others draw into a
    temporary folder they remove) and returns the report's path, the others None."""
    bad = [w for w in what if w not in WHAT]
    if bad:
        raise ValueError("--what: unknown %s (choose from %s)" % (", ".join(bad), ",".join(WHAT)))
    args = (net, sample, what, run_dir, n_maps, occluder, stride, n_show, n_score, seed, title,
            comm)
    if comm is not None and comm.rank != 0:                  # quiet ranks: nothing to keep
        with tempfile.TemporaryDirectory(prefix="zfcore-rank%d-" % comm.rank) as tmp:
            _visualize(tmp, None, *args)
        return None, None
    return _visualize(out_dir, progress, *args)


def _visualize(out_dir, progress, net, sample, what, run_dir, n_maps, occluder, stride, n_show,
               n_score, seed, title, comm):
    fig_dir = os.path.join(out_dir, "figures")
    os.makedirs(fig_dir, exist_ok=True)
    report = Report(title)
    scores = {}
    h = sample.inputs.hw[0]
    size = occluder or max(2, int(round(h * 0.25)))
    stride = stride or max(1, h // 16)
    show_idx = _spread_classes(sample.labels, n_show, _correct(net, sample, n_show * 20))
    ctx = dict(net=net, sample=sample, fig_dir=fig_dir, report=report, scores=scores, n_maps=n_maps,
               size=size, stride=stride, show_idx=show_idx, n_score=n_score, seed=seed,
               run_dir=run_dir, comm=comm)
    for step in [w for w in WHAT if w in what]:              # the report in the paper's order
        if progress is not None:
            progress(step)
        STEPS[step](**ctx)
    with atomic_write(os.path.join(out_dir, "scores.json"), "w") as f:
        json.dump(scores, f, indent=1, default=float)
    return report.write(out_dir), scores


def _correct(net, sample, n):
    """(len(sample),) bool: True where the net classifies the image right (of the first n)."""
    idx = np.arange(min(n, len(sample)))
    pred = to_numpy(net.forward(sample.inputs.x(idx), train=False).argmax(axis=1))
    ok = np.zeros(len(sample), dtype=bool)
    ok[idx] = pred == np.asarray(sample.labels)[idx]
    return ok


def _spread_classes(labels, n, prefer=None):
    """Up to n image indices, first one per class, then the next ones; images with ``prefer``
    True (e.g. correctly classified ones, as the paper's figures show) come first, so the classes
    that have one come before those that have none (each group in class order)."""
    prefer = np.ones(len(labels), dtype=bool) if prefer is None else prefer
    order = np.concatenate([np.flatnonzero(prefer), np.flatnonzero(~prefer)])
    first = sorted((int(order[labels[order] == c][0]) for c in np.unique(labels)),
                   key=lambda i: (not prefer[i], labels[i]))
    rest = [int(i) for i in order if i not in set(first)]
    return (first + rest)[:n]


def _rel(path, fig_dir):
    return os.path.relpath(path, os.path.dirname(fig_dir))


def step_top9(net, sample, fig_dir, report, n_maps, seed, comm=None, **_):
    report.heading("Top-9 activations and their projections (Fig. 2)")
    layers = conv_blocks(net)
    tops = top_activations(net, sample.inputs, layers, k=9, comm=comm)
    for layer in layers:
        maps = pick_maps(tops[layer], n_maps, seed)
        if len(maps) == 0:
            report.note("layer %s: every feature map is dead on these images" % layer)
            continue
        proj, patches, _ = project_top(net, sample.inputs, tops[layer], maps)
        path = top9_figure(os.path.join(fig_dir, "top9_%s.png" % layer), net, layer, proj, patches,
                           maps)
        report.figure(_rel(path, fig_dir),
                      "Layer %d (%s), %d feature maps chosen at random among the live ones. Left: "
                      "for each map, its 9 strongest activations over %d images (one per image), "
                      "each projected alone to pixel space by the deconvnet and cropped to its "
                      "receptive field, contrast-normalised per projection (grey = 0). Right: the "
                      "image patches under those receptive fields, same layout."
                      % (layer_number(net, layer), layer, len(maps), len(sample)))


def step_evolution(net, fig_dir, report, run_dir, **_):
    report.heading("Feature evolution during training (Fig. 4)")
    found = (sorted(glob.glob(os.path.join(run_dir, "figures", "evolution_*.png"))) if run_dir
             else [])
    if not found:
        report.note("No evolution figures in the run's folder: train with "
                    "`python -m zfcore.train ... --evolution` to record them.")
        return
    for src in found:
        dst = shutil.copy(src, os.path.join(fig_dir, os.path.basename(src)))
        layer = os.path.basename(src)[len("evolution_"):-4]
        report.figure(_rel(dst, fig_dir),
                      "Evolution of layer %s during training: each row one feature map, each "
                      "column one epoch; the strongest activation over a fixed probe set of "
                      "training images, projected to pixel space." % layer)


def step_invariance(net, sample, fig_dir, report, show_idx, **_):
    report.heading("Invariance (Fig. 5)")
    results = {kind: [] for kind in KINDS}
    x = sample.inputs.x(show_idx)
    for k, idx in enumerate(show_idx):
        for kind in KINDS:
            results[kind].append(invariance_curves(net, x[k], sample.labels[idx], kind))
    names = [sample.name(sample.labels[i]) for i in show_idx]
    path = invariance_figure(os.path.join(fig_dir, "invariance.png"), net, results, names,
                             pixels=sample.inputs.pixels)
    l1, l7 = default_layers(net)
    report.figure(_rel(path, fig_dir),
                  "Rows: vertical translation, scaling, rotation of %d images (new pixels are the "
                  "mean colour). Columns: the first image under the transform; the distance "
                  "between the feature vectors of the original and the transformed image at layer "
                  "%d (%s) and at layer %d (%s), divided by the original's norm; the probability "
                  "of the true class."
                  % (len(show_idx), layer_number(net, l1), l1, layer_number(net, l7), l7))


def step_filters(net, sample, fig_dir, report, scores, n_maps, seed, **_):
    report.heading("Layer-1 filters (Fig. 6)")
    W = first_conv(net).params["W"]
    path = filters_figure(os.path.join(fig_dir, "filters_layer1.png"), net)
    raw, _ = layer2_projections(net, sample.inputs, n_maps=n_maps, seed=seed)
    share = high_freq_share(raw)
    scores["filters"] = {"dead_fraction": dead_fraction(W),
                         "layer2_high_freq_share": float(share.mean()) if len(share) else None}
    report.figure(_rel(path, fig_dir),
                  "The first layer's filters, all on one scale (grey = 0), so weak filters look "
                  "weak. Dead filters (RMS below 5%% of the largest): %.1f%%. Share of the "
                  "spectral energy of layer-2 projections above half the Nyquist frequency "
                  "(aliasing, Fig. 6 d/e): %s."
                  % (100 * scores["filters"]["dead_fraction"],
                     "%.1f%%" % (100 * share.mean()) if len(share)
                     else "n/a (no live layer-2 map)"))


def step_occlusion(net, sample, fig_dir, report, size, stride, show_idx, comm=None, **_):
    report.heading("Occlusion sensitivity (Fig. 7)")
    layer = top_conv_layer(net)
    x = sample.inputs.x(show_idx)
    rgb = sample.inputs.rgb(show_idx)
    fills = {"grey": "the training set's mean grey (the paper's occluder)",
             "image": "the image's own mean colour (on a plain background the grey square is "
                      "itself a shape; this one is not)"}
    for k, idx in enumerate(show_idx):
        for fill, what in fills.items():
            res = occlusion(net, x[k], sample.labels[idx], size, stride, FILLS[fill], layer,
                            comm=comm)
            name = "occlusion_%d.png" % k if fill == "grey" else "occlusion_%d_%s.png" % (k, fill)
            path = occlusion_figure(os.path.join(fig_dir, name), net, x[k], rgb[k],
                                    sample.labels[idx], res, size, stride, sample.class_names,
                                    layer, fill_name="image-mean" if fill == "image" else fill)
            report.figure(_rel(path, fig_dir),
                          "Image %d (%s) with a %dx%d square of %s slid over it at stride %d. "
                          "(b) the total activation of %s map %d, the strongest on the unoccluded "
                          "image, for each position of the square; (c) that map's strongest "
                          "activation projected to pixels; (d) the probability of the true class; "
                          "(e) the most probable class."
                          % (idx, sample.name(sample.labels[idx]), size, size, what, stride, layer,
                             res["channel"]))


def step_correspondence(net, sample, report, scores, seed, **_):
    report.heading("Correspondence of object parts (Sec. 4.3, Table 1)")
    if sample.boxes is None:
        report.note("Correspondence needs object boxes: use the synthetic data set.")
        return
    groups = []
    for c in np.unique(sample.labels):
        idx = np.flatnonzero(sample.labels == c)[:8]
        if len(idx) >= 2:
            groups.append((sample.inputs.x(idx), sample.boxes[idx]))
    table = correspondence_table(net, groups, seed=seed)
    scores["correspondence"] = {row: {k: list(v) for k, v in cols.items()}
                                for row, cols in table.items()}
    report.html(table_html(table))
    report.html("<p>Delta per pair of images and per feature: the share of features whose change "
                "(original minus masked) has a different sign in two images of the same class, "
                "averaged over the %d classes (mean &plusmn; std over classes; random: also over 5 "
                "draws). Rows: the quadrant of each object's box that was masked with the mean "
                "colour, or a square of the same size at a random place. Lower than random means "
                "the net ties that part of the object to the same features in every image.</p>"
                % len(groups))


def step_scores(net, sample, report, scores, size, stride, n_score, comm=None, **_):
    report.heading("Scores against ground truth (synthetic data)")
    if sample.boxes is None or sample.masks is None:
        report.note("Ground-truth scores need object boxes and masks: use the synthetic data set.")
        return
    n = min(n_score, len(sample))
    idx = np.arange(n)
    x = sample.inputs.x(idx)
    occ = occlusion_hits(net, x, sample.labels[idx], sample.boxes[idx], size, stride, comm=comm)
    own = occlusion_hits(net, x, sample.labels[idx], sample.boxes[idx], size, stride, "image",
                         comm=comm)
    proj = projection_in_mask(net, x, sample.masks[idx])
    scores["occlusion_minimum_in_box"] = {"rate": occ["hit_rate"], "chance": occ["chance"],
                                          "n": occ["n"]}
    scores["occlusion_minimum_in_box_image_fill"] = {"rate": own["hit_rate"],
                                                     "chance": own["chance"], "n": own["n"]}
    scores["projection_energy_in_mask"] = {"share": proj["share"], "chance": proj["chance"],
                                           "n": proj["n"]}
    report.html(
        "<table><tr><th>score</th><th>net</th><th>random map</th><th>images</th></tr>"
        "<tr><td>occlusion (grey square): deepest drop of P(true class) inside the object's "
        "box</td><td>%.1f%%</td><td>%.1f%%</td><td>%d</td></tr>"
        "<tr><td>occlusion (square of the image's mean colour): the same</td>"
        "<td>%.1f%%</td><td>%.1f%%</td><td>%d</td></tr>"
        "<tr><td>top-layer projection: share of energy inside the object's mask</td>"
        "<td>%.1f%%</td><td>%.1f%%</td><td>%d</td></tr></table>"
        "<p>Occlusion: the %dx%d square at stride %d whose centre lowers the true class's "
        "probability most; random map: the share of square positions whose centre is in the box. "
        "Projection: the strongest activation of the strongest %s map, projected; random map: the "
        "mask's share of the image (the expected share for independent, equally distributed pixel "
        "energies).</p>"
        % (100 * occ["hit_rate"], 100 * occ["chance"], occ["n"], 100 * own["hit_rate"],
           100 * own["chance"], own["n"], 100 * proj["share"],
           100 * proj["chance"], proj["n"], size, size, stride, top_conv_layer(net)))


STEPS = {"top9": step_top9, "evolution": step_evolution, "invariance": step_invariance,
         "filters": step_filters, "occlusion": step_occlusion,
         "correspondence": step_correspondence, "scores": step_scores}
