"""Feature evolution during training (Z&F Sec. 4.1, Fig. 4).

Once per chosen epoch: for a fixed set of feature maps per layer, the strongest activation over
a fixed probe set of training images, projected to pixel space by the deconvnet. ``save`` draws
one grid per layer: rows the feature maps, columns the epochs.

Each epoch's frames are written to the run folder when they are recorded
(``<out_dir>/evolution/epoch_<NNNN>.npz``: per layer the chosen maps, their strongest values
and the pictures as uint8), so an interrupted or resumed run keeps its whole history and a
later reader (the report, an atlas) can draw any epoch.
"""
import os

import numpy as np

from zfcore.atomic import atomic_write
from zfcore.vis.geometry import conv_blocks, layer_number, receptive_fields, rf_boxes
from zfcore.vis.probe import Inputs
from zfcore.vis.render import crop, figure, mosaic, normalise, save, show
from zfcore.vis.topk import top_activations


class EvolutionRecorder:
    """Records how the features of ``net`` evolve while it trains.

    ``EvolutionRecorder(net, probe_x, out_dir)`` once before training; ``record(epoch)`` after
    each epoch to be shown; ``save()`` at the end writes ``out_dir/figures/evolution_<layer>.png``
    and returns their paths.

    probe_x (P, 3, H, W) float32: a fixed subset of the training set, mean-subtracted, on the
    net's device. ``layers``: default the ReLU after every conv (Z&F's layers 1-5); ``n_maps``
    feature maps per layer, chosen once at random (``seed``). The recorder only runs eval-mode
    forward passes and the deconv path: it changes no weight, gradient or random state of the
    training (layer caches are overwritten, so call it between updates, not inside one).
    """

    def __init__(self, net, probe_x, out_dir, layers=None, n_maps=8, seed=0, mode="deconv",
                 batch_size=64):
        self.net, self.out_dir, self.mode, self.batch_size = net, out_dir, mode, batch_size
        self.inputs = Inputs(probe_x)
        self.layers = list(layers) if layers is not None else conv_blocks(net)
        rng = np.random.default_rng(seed)
        shapes = dict(net.shapes()) if net.input_shape is not None else None
        self.maps = {}
        for name in self.layers:
            c = shapes[name][0] if shapes is not None else None
            if c is None:  # no input shape on the net: ask a forward pass
                c = net.forward(probe_x[:1], until=name).shape[1]
            self.maps[name] = np.sort(rng.choice(c, min(n_maps, c), replace=False))
        self.epochs = []
        self.frames = {name: [] for name in self.layers}          # per epoch: (n_maps, h, w, 3)
        self.values = {name: [] for name in self.layers}          # per epoch: (n_maps,)
        self.history_dir = os.path.join(out_dir, "evolution")
        for epoch, frames, values in read_history(self.history_dir, self.maps):
            self._keep(epoch, frames, values)

    def _keep(self, epoch, frames, values):
        """Hold one epoch's frames in memory, in epoch order, replacing a frame of the same
        epoch."""
        if epoch in self.epochs:
            k = self.epochs.index(epoch)
            for name in self.layers:
                del self.frames[name][k], self.values[name][k]
            del self.epochs[k]
        k = int(np.searchsorted(self.epochs, epoch))
        self.epochs.insert(k, epoch)
        for name in self.layers:
            self.frames[name].insert(k, frames[name])
            self.values[name].insert(k, values[name])

    def record(self, epoch, draw=True):
        """Project, for every layer and chosen map, its strongest activation over the probe set
        at the net's current weights; write them to the run folder's history (and, with
        ``draw``, redraw the figures). Frames of this epoch or later from an earlier timeline (a
        run resumed from an older checkpoint) are dropped. Returns {layer: (n_maps, h, w, 3)
        pictures in [0, 1]}, cropped to the unit's receptive field."""
        tops = top_activations(self.net, self.inputs, self.layers, k=1, batch_size=self.batch_size)
        rfs = receptive_fields(self.net)
        out, values = {}, {}
        for name in self.layers:
            top, maps = tops[name], self.maps[name]
            img, ii, jj = top.image[maps, 0], top.i[maps, 0], top.j[maps, 0]
            r = self.net.project_units(self.inputs.x(img), name, maps, ii, jj, mode=self.mode,
                                       chunk=self.batch_size)
            out[name] = crop(normalise(r), rf_boxes(rfs[name], ii, jj, self.inputs.hw))
            values[name] = top.values[maps, 0]
        for later in [e for e in self.epochs if e > epoch]:
            k = self.epochs.index(later)
            for name in self.layers:
                del self.frames[name][k], self.values[name][k]
            del self.epochs[k]
        self._keep(epoch, out, values)
        write_history(self.history_dir, epoch, self.maps, out, values)
        if draw:
            self.save()
        return out

    def save(self):
        """Write one PNG per layer (rows: maps, columns: recorded epochs); returns the paths."""
        paths = []
        if not self.epochs:
            return paths
        for name in self.layers:
            frames = np.stack(self.frames[name], axis=1)            # (n_maps, epochs, h, w, 3)
            m, e = frames.shape[:2]
            grid = mosaic(frames.reshape((m * e,) + frames.shape[2:]), e, pad=1)
            fig = figure(max(3.5, 0.9 * e + 1.2), max(2.5, 0.9 * m + 0.8))
            ax = fig.subplots()
            show(ax, grid, "layer %d (%s): strongest activation over the probe set, projected"
                 % (layer_number(self.net, name), name))
            step = grid.shape[1] / e
            ax.set_xticks((np.arange(e) + 0.5) * step - 0.5)
            ax.set_xticklabels([str(ep) for ep in self.epochs], fontsize=7)
            ax.set_xlabel("epoch", fontsize=8)
            step = grid.shape[0] / m
            ax.set_yticks((np.arange(m) + 0.5) * step - 0.5)
            ax.set_yticklabels(["map %d" % c for c in self.maps[name]], fontsize=7)
            paths.append(save(fig, os.path.join(self.out_dir, "figures",
                                                "evolution_%s.png" % name)))
        return paths


def _history_path(folder, epoch):
    return os.path.join(folder, "epoch_%04d.npz" % epoch)


def write_history(folder, epoch, maps, frames, values):
    """One epoch's frames into ``folder/epoch_<NNNN>.npz`` (written to a temporary file, then
    renamed); the files of later epochs are removed (they belong to an abandoned timeline)."""
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.startswith("epoch_") and name.endswith(".npz") and name[6:-4].isdigit() \
                and int(name[6:-4]) > epoch:
            os.remove(os.path.join(folder, name))
    arrays = {}
    for layer in maps:
        arrays["maps/" + layer] = np.asarray(maps[layer])
        arrays["values/" + layer] = np.asarray(values[layer], dtype=np.float32)
        arrays["frames/" + layer] = np.round(np.clip(frames[layer], 0, 1) * 255).astype(np.uint8)
    path = _history_path(folder, epoch)
    with atomic_write(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def read_history(folder, maps):
    """[(epoch, {layer: frames (n_maps, h, w, 3) in [0, 1]}, {layer: values})] from the files
    of ``write_history`` in ``folder``, in epoch order; files of other layers or maps (another
    net) and unreadable ones are left out."""
    if not os.path.isdir(folder):
        return []
    out = []
    for name in sorted(os.listdir(folder)):
        if not (name.startswith("epoch_") and name.endswith(".npz") and name[6:-4].isdigit()):
            continue
        try:
            with np.load(os.path.join(folder, name)) as f:
                if any(not np.array_equal(f["maps/" + layer], m) for layer, m in maps.items()):
                    continue
                frames = {layer: f["frames/" + layer] / 255.0 for layer in maps}
                values = {layer: f["values/" + layer] for layer in maps}
        except (OSError, KeyError, ValueError):
            continue
        out.append((int(name[6:-4]), frames, values))
    return out
