"""HDF5 checkpoints: everything a run needs to continue exactly, or to be looked inside.

Layout (format 1): attrs ``format``='zfcore-checkpoint', ``version``, ``spec`` (JSON),
``class_names`` (JSON), ``state`` (JSON: epoch, step, lr, seed, data, scheduler states, and
``layer_rng``: {layer: its ``random_state()``}); groups ``params/<name>``, ``velocity/<name>``,
``layer_state/<layer>.<key>`` (each layer's ``state`` buffers; absent when no layer has any);
dataset ``mean`` (H, W, 3). Older files (no ``layer_state`` group, the dropout streams under
``dropout_rng``) read as before. Written to a
temporary file in the same folder, then renamed: a run killed mid-write leaves the previous
checkpoint whole.
"""
import json
import os

import numpy as np

from zfcore.atomic import atomic_path
from zfcore.backend import to_numpy
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


def random_states(net):
    """{layer name: ``layer.random_state()``} for every layer with a random stream of its own."""
    states = {name: layer.random_state() for name, layer in net.layers.items()}
    return {name: st for name, st in states.items() if st is not None}


def layer_buffers(net):
    """{'<layer>.<key>': array} of every layer's ``state`` (non-parameter buffers)."""
    return {"%s.%s" % (name, key): a for name, layer in net.layers.items()
            for key, a in layer.state.items()}


def save_checkpoint(path, net, velocity, mean, class_names, state):
    """Write atomically: ``path + '.tmp'`` then ``os.replace``; on any failure (full disk,
    permission denied, Ctrl-C) the temporary file is removed and ``path`` is left as it was."""
    import h5py
    state = {k: v for k, v in state.items() if k != "dropout_rng"}     # the older name
    state["layer_rng"] = random_states(net)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"], f.attrs["version"] = FORMAT, VERSION
            f.attrs["spec"] = json.dumps(net.spec)
            f.attrs["class_names"] = json.dumps(list(class_names))
            f.attrs["state"] = json.dumps(state)
            for key, a in net.params().items():
                f.create_dataset("params/" + key, data=to_numpy(a))
            for key, a in (velocity or {}).items():
                f.create_dataset("velocity/" + key, data=to_numpy(a))
            for key, a in layer_buffers(net).items():
                f.create_dataset("layer_state/" + key, data=to_numpy(a))
            f.create_dataset("mean", data=np.asarray(mean, dtype=np.float32))


def load_checkpoint(path):
    """Read a checkpoint into a fresh net (on NumPy). Raises CheckpointError with one line."""
    import h5py
    if not os.path.exists(path):
        raise CheckpointError("checkpoint %s: no such file" % path)
    if os.path.isdir(path):
        raise CheckpointError("checkpoint %s: a folder, not a checkpoint file" % path)
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise CheckpointError("checkpoint %s: not a zfcore checkpoint" % path)
            if int(f.attrs["version"]) > VERSION:
                raise CheckpointError("checkpoint %s: format version %d is newer than this "
                                      "zfcore (%d)" % (path, int(f.attrs["version"]), VERSION))
            spec = json.loads(f.attrs["spec"])
            class_names = json.loads(f.attrs["class_names"])
            state = json.loads(f.attrs["state"])
            params = {key: f["params"][key][()] for key in f["params"]}
            velocity = {key: f["velocity"][key][()] for key in f["velocity"]} \
                if "velocity" in f else {}
            buffers = {key: f["layer_state"][key][()] for key in f["layer_state"]} \
                if "layer_state" in f else {}
            mean = f["mean"][()]
    except CheckpointError:
        raise
    except (OSError, KeyError, ValueError) as e:
        raise CheckpointError("checkpoint %s: unreadable or truncated (%s)"
                              % (path, str(e).splitlines()[0] if str(e) else type(e).__name__))
    try:
        net = build(spec)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError("checkpoint %s: cannot build its architecture (%s)"
                              % (path, str(e).splitlines()[0] if str(e) else type(e).__name__))
    expected = net.params()
    if set(expected) != set(params) or any(expected[k].shape != params[k].shape for k in params):
        raise CheckpointError("checkpoint %s: weights do not match its own architecture %r"
                              % (path, spec.get("arch")))
    for key, a in params.items():
        net.set_param(key, a.astype(np.float32))
    expected = layer_buffers(net)
    bad = sorted(k for k, a in buffers.items() if k not in expected or expected[k].shape != a.shape)
    if bad:
        raise CheckpointError("checkpoint %s: layer state %s does not match its own architecture %r"
                              % (path, ", ".join(bad), spec.get("arch")))
    for key, a in buffers.items():
        name, which = key.rsplit(".", 1)
        net.layers[name].state[which] = a.astype(expected[key].dtype)
    rng_states = state.get("layer_rng", state.get("dropout_rng", {}))
    for name, st in rng_states.items():
        if name in net.layers:
            net.layers[name].set_random_state(st)
    return Checkpoint(path, net, spec, mean, class_names, state, velocity)
