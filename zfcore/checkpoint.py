"""HDF5 checkpoints: everything a run needs to continue exactly, or to be looked inside.

Layout (format 1): attrs ``format``='zfcore-checkpoint', ``version``, ``spec`` (JSON),
``class_names`` (JSON), ``state`` (JSON: epoch, step, lr, seed, data, scheduler and RNG states);
groups ``params/<name>``, ``velocity/<name>``; dataset ``mean`` (H, W, 3). Written to a
temporary file in the same folder, then renamed: a run killed mid-write leaves the previous
checkpoint whole.
"""
import json
import os

import numpy as np

from zfcore.backend import to_numpy
from zfcore.layers import Dropout
from zfcore.models import build

FORMAT, VERSION = "zfcore-checkpoint", 1


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message is one line naming the file."""


class Checkpoint:
    """What ``load_checkpoint`` gives: the net with its weights, and the run's state."""

    def __init__(self, path, net, spec, mean, class_names, state, velocity):
        self.path, self.net, self.spec, self.mean = path, net, spec, mean
        self.class_names, self.state, self.velocity = class_names, state, velocity
        self.epoch = state.get("epoch", 0)
        self.data = state.get("data")
        self.run_dir = os.path.dirname(os.path.abspath(path))


def dropout_states(net):
    return {name: layer.rng.bit_generator.state for name, layer in net.layers.items()
            if isinstance(layer, Dropout)}


def save_checkpoint(path, net, velocity, mean, class_names, state):
    """Write atomically: ``path + '.tmp'`` then ``os.replace``."""
    import h5py
    state = dict(state, dropout_rng=dropout_states(net))
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.attrs["format"], f.attrs["version"] = FORMAT, VERSION
        f.attrs["spec"] = json.dumps(net.spec)
        f.attrs["class_names"] = json.dumps(list(class_names))
        f.attrs["state"] = json.dumps(state)
        for key, a in net.params().items():
            f.create_dataset("params/" + key, data=to_numpy(a))
        for key, a in (velocity or {}).items():
            f.create_dataset("velocity/" + key, data=to_numpy(a))
        f.create_dataset("mean", data=np.asarray(mean, dtype=np.float32))
    os.replace(tmp, path)


def load_checkpoint(path):
    """Read a checkpoint into a fresh net (on NumPy). Raises CheckpointError with one line."""
    import h5py
    if not os.path.exists(path):
        raise CheckpointError("checkpoint %s: no such file" % path)
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise CheckpointError("checkpoint %s: not a zfcore checkpoint" % path)
            if int(f.attrs["version"]) > VERSION:
                raise CheckpointError("checkpoint %s: format version %d is newer than this zfcore (%d)"
                                      % (path, int(f.attrs["version"]), VERSION))
            spec = json.loads(f.attrs["spec"])
            class_names = json.loads(f.attrs["class_names"])
            state = json.loads(f.attrs["state"])
            params = {key: f["params"][key][()] for key in f["params"]}
            velocity = {key: f["velocity"][key][()] for key in f["velocity"]} \
                if "velocity" in f else {}
            mean = f["mean"][()]
    except CheckpointError:
        raise
    except (OSError, KeyError, ValueError) as e:
        raise CheckpointError("checkpoint %s: unreadable or truncated (%s)"
                              % (path, str(e).splitlines()[0] if str(e) else type(e).__name__))
    net = build(spec)
    expected = net.params()
    if set(expected) != set(params) or any(expected[k].shape != params[k].shape for k in params):
        raise CheckpointError("checkpoint %s: weights do not match its own architecture %r"
                              % (path, spec.get("arch")))
    for key, a in params.items():
        net.set_param(key, a.astype(np.float32))
    for name, st in state.get("dropout_rng", {}).items():
        net.layers[name].rng.bit_generator.state = st
    return Checkpoint(path, net, spec, mean, class_names, state, velocity)
