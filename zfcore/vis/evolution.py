"""Feature evolution during training (Z&F Sec. 4.1, Fig. 4).

Once per chosen epoch: for a fixed set of feature maps per layer, the strongest activation over
a fixed probe set of training images, projected to pixel space by the deconvnet. ``save`` draws
one grid per layer: rows the feature maps, columns the epochs.
"""
import os

import numpy as np

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

    def record(self, epoch):
        """Project, for every layer and chosen map, its strongest activation over the probe set
        at the net's current weights; kept in memory until ``save``. Returns {layer: (n_maps, h,
        w, 3) pictures in [0, 1]}, cropped to the unit's receptive field."""
        tops = top_activations(self.net, self.inputs, self.layers, k=1, batch_size=self.batch_size)
        rfs = receptive_fields(self.net)
        out = {}
        for name in self.layers:
            top, maps = tops[name], self.maps[name]
            img, ii, jj = top.image[maps, 0], top.i[maps, 0], top.j[maps, 0]
            r = self.net.project_units(self.inputs.x(img), name, maps, ii, jj, mode=self.mode,
                                      chunk=self.batch_size)
            out[name] = crop(normalise(r), rf_boxes(rfs[name], ii, jj, self.inputs.hw))
            self.frames[name].append(out[name])
            self.values[name].append(top.values[maps, 0])
        self.epochs.append(epoch)
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
