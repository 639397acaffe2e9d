"""A unit atlas: every unit of every conv layer of a net on its own page, as a static site.

``build_atlas(net, sample, out_dir, run_dir)`` writes, for the feature maps ("units") of the
ReLU after every conv layer (Z&F's layers 1-5):

- ``out_dir/index.html``: the layers, their shapes, live and dead units, and the distribution
  of the units' strongest activations;
- ``out_dir/<conv>/index.html``: every unit of the layer as a thumbnail of its strongest
  projection, sortable by activation or by the class it fires for most, filterable by class;
- ``out_dir/<conv>/<NNN>.html`` (a stable path: ``conv5/017.html`` is unit 17 of conv5): its
  top-k projections beside their image patches (Fig. 2), layer 1's filter weights (Fig. 6), its
  evolution over the run's epochs with a slider (Fig. 4, from ``run_dir/evolution``), its mean
  strongest activation per class, and occlusion maps of its total activation on its top images
  (Fig. 7b); links to the previous and next unit and layer and to ``report.html``.

The top-k and per-class means of every unit come from one pass over the data
(``atlas_scan.scan_units``); projections go through ``Net.project_units`` a group of units at a
time; occlusion runs once per image for all units (``atlas_scan.occlusion_totals``). Each unit's
files are written atomically (``zfcore.atomic``), its page last: an interrupted build, run
again on the same net and images, skips the units whose page is there (``atlas.json`` holds
what the pages were made from; anything else rebuilds them all).
"""
import hashlib
import json
import os
import time

import numpy as np

from zfcore.atomic import atomic_write
from zfcore.backend import to_numpy
from zfcore.layers import Conv2D
from zfcore.vis import atlas_html as H
from zfcore.vis.atlas_pages import (scale_for, unit_info, unit_name, write_index,
                                    write_layer_page, write_png)
from zfcore.vis.atlas_scan import occlusion_totals, scan_units
from zfcore.vis.evolution import read_history
from zfcore.vis.filters import filter_tiles, first_conv
from zfcore.vis.geometry import conv_blocks, receptive_fields
from zfcore.vis.topk import project_top

VERSION = 1
STATE = "atlas.json"


def atlas_layers(net):
    """[(conv name, the layer its units are measured at)]: each conv and the ReLU after it."""
    names = list(net.layers)
    out = []
    for act in conv_blocks(net):
        k = names.index(act)
        conv = act if isinstance(net.layers[act], Conv2D) else names[k - 1]
        out.append((conv, act))
    return out


def build_atlas(net, sample, out_dir, run_dir=None, report=None, k=9, n_occlude=3,
                occluder=None, stride=None, batch_size=64, group=16, title=None, log=None):
    """Write the atlas of ``net`` on ``sample`` (a ``pipeline.Sample``: inputs, labels, class
    names) into ``out_dir``; ``run_dir``: the training run's folder (its ``evolution/``
    history); ``report``: the path of the ``report.html`` to link to (default: one beside or
    above ``out_dir``). ``n_occlude`` top images per unit get an occlusion map (a square of
    ``occluder`` pixels, default a quarter of the input, at ``stride``, default 5 x 5 places).
    ``log(line)`` is told what runs. Returns {'index', 'units', 'written', 'skipped',
    'seconds', 'bytes', 'disk_bytes'}."""
    t0 = time.time()
    log = log or (lambda line: None)
    inputs, labels = sample.inputs, np.asarray(sample.labels)
    names = _class_names(sample, labels)
    hw = inputs.hw
    size = occluder or max(2, int(round(hw[0] * 0.25)))
    stride = stride or max(1, (hw[0] - size) // 4)          # 5 x 5 places
    layers = atlas_layers(net)
    acts = [a for _, a in layers]
    log("scan: %d images, %d layers, top-%d of every unit" % (len(inputs), len(layers), k))
    scans = scan_units(net, inputs, labels, acts, len(names), k=k, batch_size=batch_size)
    if net.input_shape is not None:
        shapes = dict(net.shapes())
    else:
        shapes = {a: tuple(v.shape[1:]) for a, v in net.forward(inputs.x([0]), keep=acts).items()}
    site = Site(out_dir, layers, {a: len(scans[a].top.values) for a in acts}, report)
    state = {"version": VERSION, "fingerprint": _fingerprint(net, inputs, labels, names),
             "k": k, "n_occlude": n_occlude, "occluder": [size, stride],
             "layers": [c for c, _ in layers]}
    fresh = _read_state(out_dir) != state
    os.makedirs(out_dir, exist_ok=True)
    with atomic_write(os.path.join(out_dir, STATE), "w") as f:
        json.dump(state, f)
    history = _history(run_dir)
    ctx = dict(net=net, layers=layers, inputs=inputs, labels=labels, names=names, scans=scans,
               site=site, k=k, size=size, stride=stride, history=history, shapes=shapes,
               rfs=receptive_fields(net), filters=filter_tiles(first_conv(net).params["W"]))
    pending = {act: [c for c in range(len(scans[act].top.values))
                     if fresh or not os.path.exists(site.unit_path(conv, c))]
               for conv, act in layers}
    occ = Occlusions(net, inputs, acts, scans, pending, n_occlude, size, stride, batch_size)
    written = 0
    for conv, act in layers:
        todo = pending[act]
        log("%s: %d units, %d to write" % (conv, len(scans[act].top.values), len(todo)))
        for s in range(0, len(todo), group):
            units = todo[s:s + group]
            proj, _, boxes = project_top(net, inputs, scans[act].top, units, chunk=batch_size)
            for m, c in enumerate(units):
                _write_unit(ctx, conv, act, c, proj[m], boxes[m], occ.maps(act, c))
                written += 1
    for conv, act in layers:
        write_layer_page(ctx, conv, act)
    index = write_index(ctx, title or "zfcore unit atlas")
    total, disk = _size(out_dir)
    return {"index": index, "units": sum(len(scans[a].top.values) for a in acts),
            "written": written, "skipped": sum(len(scans[a].top.values) for a in acts) - written,
            "seconds": time.time() - t0, "bytes": total, "disk_bytes": disk}


class Site:
    """Where the atlas's files go, and the relative links between them."""

    def __init__(self, root, layers, n_units, report=None):
        self.root = root
        self.convs = [c for c, _ in layers]
        self.n_units = {c: n_units[a] for c, a in layers}
        if report is None:
            for cand in (os.path.join(root, "report.html"),
                         os.path.join(os.path.dirname(os.path.abspath(root)), "report.html")):
                if os.path.exists(cand):
                    report = cand
                    break
        self.report = report

    def unit_path(self, conv, unit):
        return os.path.join(self.root, conv, unit_name(unit, self.n_units[conv]) + ".html")

    def image(self, idx):
        return os.path.join("images", "%05d.png" % idx)

    def report_link(self, folder):
        """[('report.html', href)] from ``folder`` (relative to the root), or [] without one."""
        if self.report is None:
            return []
        return [("report.html", os.path.relpath(os.path.abspath(self.report),
                                                os.path.abspath(os.path.join(self.root, folder)))
                 .replace(os.sep, "/"))]


class Occlusions:
    """Occlusion maps of each unit on ``n_occlude`` of its top-k images, computed once per image
    (for every layer up to the deepest that needs it), when a unit first asks for it.

    One forward pass of an image's occluded copies serves every unit, so the images are chosen
    to be few: unit by unit (layers in order), those of its top-k already chosen for an earlier
    unit first, in rank order, then its strongest others (on the default net about 90 images
    instead of 210 for the plain top-3). The choice depends on the scan only, so an interrupted
    and resumed build draws the same maps."""

    def __init__(self, net, inputs, acts, scans, pending, n_occlude, size, stride, chunk):
        self.net, self.inputs, self.acts, self.scans = net, inputs, acts, scans
        self.size, self.stride, self.chunk = size, stride, chunk
        self.deepest, self.done, self.chosen = {}, {}, {}
        seen = set()
        for depth, act in enumerate(acts):
            top = scans[act].top
            for c in range(len(top.values)):
                ranks = [s for s in range(top.values.shape[1])
                         if top.values[c, s] > 0 and top.image[c, s] >= 0]
                old = [s for s in ranks if int(top.image[c, s]) in seen][:n_occlude]
                new = [s for s in ranks if int(top.image[c, s]) not in seen]
                pick = sorted(old + new[:n_occlude - len(old)])
                self.chosen[act, c] = [(s, int(top.image[c, s])) for s in pick]
                seen.update(img for _, img in self.chosen[act, c])
            for c in pending[act]:
                for _, img in self.chosen[act, c]:
                    self.deepest[img] = max(self.deepest.get(img, 0), depth)

    def maps(self, act, c):
        """[(rank in the top-k, image index, (H', W') total activation of map c, its unoccluded
        value)]."""
        out = []
        for rank, img in self.chosen[act, c]:
            if img not in self.done:
                keep = self.acts[:self.deepest[img] + 1]
                x = self.inputs.x([img])[0]
                self.done[img] = occlusion_totals(self.net, x, keep, self.size, self.stride,
                                                  chunk=self.chunk)
            maps, base = self.done[img]
            out.append((rank, img, maps[act][c], float(base[act][c])))
        return out


def _class_names(sample, labels):
    names = list(getattr(sample, "class_names", None) or [])
    n = max(len(names), int(labels.max()) + 1 if len(labels) else 0)
    return names + ["class %d" % c for c in range(len(names), n)]


def _fingerprint(net, inputs, labels, names):
    """A hash of the weights, the images as the net sees them, the labels and class names."""
    h = hashlib.sha1()
    for key, a in sorted(net.params().items()):
        h.update(key.encode())
        h.update(np.ascontiguousarray(to_numpy(a)).tobytes())
    for start, x in inputs.batches(256):
        h.update(np.ascontiguousarray(to_numpy(x)).tobytes())
    h.update(np.asarray(labels, dtype=np.int64).tobytes())
    h.update(json.dumps(names).encode())
    return h.hexdigest()


def _read_state(out_dir):
    try:
        with open(os.path.join(out_dir, STATE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _history(run_dir):
    """The run's evolution history: (source folder, {layer: maps}, [(epoch, frames, values)]),
    or None. The maps recorded are read from the history's first file."""
    if run_dir is None:
        return None
    folder = os.path.join(run_dir, "evolution")
    files = sorted(f for f in os.listdir(folder) if f.startswith("epoch_") and
                   f.endswith(".npz")) if os.path.isdir(folder) else []
    for name in files:
        try:
            with np.load(os.path.join(folder, name)) as f:
                maps = {key[5:]: f[key] for key in f.files if key.startswith("maps/")}
        except (OSError, ValueError):
            continue
        return folder, maps, read_history(folder, maps)
    return None


def _write_unit(ctx, conv, act, c, proj, boxes, occlusion):
    """One unit's files: its projections (one PNG, the k tiles in a row), the images it shows
    (shared by all units), and its page, written last."""
    site, inputs, scan = ctx["site"], ctx["inputs"], ctx["scans"][act]
    top, names, labels = scan.top, ctx["names"], ctx["labels"]
    n_units, kk = len(top.values), top.values.shape[1]
    name = unit_name(c, n_units)
    h, w = proj.shape[1:3]
    live = [s for s in range(kk) if top.values[c, s] > 0 and top.image[c, s] >= 0]
    sprite = os.path.join(conv, "img", name + ".png")
    if live:
        write_png(os.path.join(site.root, sprite),
                  np.concatenate(list(proj), axis=1))                # (h, k*w, 3)
    shown = ({int(top.image[c, s]) for s in live} | {img for _, img, _, _ in occlusion}
             | {int(i) for i, v in zip(scan.class_best_image[c], scan.class_best[c]) if v > 0})
    for img in sorted(shown):
        path = os.path.join(site.root, site.image(img))
        if not os.path.exists(path):
            write_png(path, inputs.rgb([img])[0])
    scale = scale_for(max(h, w))
    tops = []
    for s in live:
        img = int(top.image[c, s])
        cls = names[int(labels[img])]
        cap = "%.3g<br>image %d (%s)" % (top.values[c, s], img, H.esc(cls))
        tops.append({"proj": H.tile("img/%s.png" % name, (0, s * w, h, (s + 1) * w),
                                    (h, kk * w), scale, "projection %d" % (s + 1)),
                     "patch": H.tile("../" + site.image(img).replace(os.sep, "/"), boxes[s],
                                     inputs.hw, scale, "patch of image %d" % img,
                                     "image %d at (%d, %d)" % (img, top.i[c, s], top.j[c, s])),
                     "caption": cap})
    u = unit_info(ctx, conv, act, c, tops, live, occlusion)
    path = site.unit_path(conv, c)
    with atomic_write(path, "w") as f:
        f.write(H.unit_page(u))


def _size(folder):
    """(bytes of the files under ``folder``, bytes they take on disk)."""
    total = disk = 0
    for root, _, files in os.walk(folder):
        for f in files:
            st = os.stat(os.path.join(root, f))
            total += st.st_size
            disk += getattr(st, "st_blocks", 0) * 512 or st.st_size
    return total, disk
