"""The net: named layers in sequence, a loss head, and the deconvnet projection (Z&F Sec. 2.1)."""
from collections import OrderedDict

import numpy as np

from zfcore.backend import to_device, xp_of
from zfcore.layers import SoftmaxCrossEntropy

PROJECT_MODES = ("deconv", "backprop", "guided")


class Net:
    """A sequence of named layers and a ``SoftmaxCrossEntropy`` head.

    ``spec`` is the architecture as data (see ``zfcore.models``): it is what checkpoints store.
    ``input_scale`` (from the spec, default 1) multiplies the input before the first layer: the
    inputs stay mean-subtracted pixels in 0..255 units everywhere else.
    """

    def __init__(self, layers, spec=None, input_shape=None):
        self.layers = OrderedDict(layers)
        self.head = SoftmaxCrossEntropy()
        self.spec = spec
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.input_scale = float((spec or {}).get("input_scale", 1.0))

    # -- training -----------------------------------------------------------------------------
    def forward(self, x, train=False, until=None):
        """Run the layers in order; stop after layer ``until`` if given (its output is returned)."""
        if until is not None and until not in self.layers:
            raise KeyError("no layer named %r (layers: %s)" % (until, ", ".join(self.layers)))
        if self.input_scale != 1.0:
            x = x * x.dtype.type(self.input_scale)
        for name, layer in self.layers.items():
            x = layer.forward(x, train=train)
            if name == until:
                break
        return x

    def loss(self, logits, labels):
        return self.head.forward(logits, labels)

    def backward(self, dlogits=None, input_grad=True):
        """Backpropagate from the head (or from ``dlogits``); fills every layer's grads; returns
        dL/dx, or None with ``input_grad=False`` where the first layer can skip it (training)."""
        d = self.head.backward() if dlogits is None else dlogits
        layers = list(self.layers.values())
        for layer in reversed(layers[1:]):
            d = layer.backward(d)
        d = layers[0].backward(d, need_dx=input_grad)
        return self._unscale(d) if input_grad else None

    def _unscale(self, d):
        """The gradient w.r.t. the raw input, through ``input_scale``."""
        return d * d.dtype.type(self.input_scale) if self.input_scale != 1.0 else d

    def params(self):
        """{'conv1.W': array, ...}: the live arrays."""
        return {"%s.%s" % (name, key): a for name, layer in self.layers.items()
                for key, a in layer.params.items()}

    def grads(self):
        return {"%s.%s" % (name, key): a for name, layer in self.layers.items()
                for key, a in layer.grads.items()}

    def set_param(self, key, value):
        """Replace one parameter array (e.g. when loading weights or changing device/dtype)."""
        name, which = key.rsplit(".", 1)
        self.layers[name].params[which] = value

    def to(self, device):
        """Move every parameter to 'numpy' or 'cupy'; returns the net."""
        for key, a in self.params().items():
            self.set_param(key, to_device(a, device))
        for layer in self.layers.values():
            layer.grads, layer.cache = {}, None
        return self

    def astype(self, dtype):
        for key, a in self.params().items():
            self.set_param(key, a.astype(dtype))
        return self

    def shapes(self):
        """[(name, output shape of one example)] for the net's input shape (Z&F Fig. 3)."""
        shape, out = self.input_shape, []
        for name, layer in self.layers.items():
            shape = layer.output_shape(shape)
            out.append((name, shape))
        return out

    # -- seeing inside ------------------------------------------------------------------------
    def project(self, x, layer, channel, position="max", mode="deconv", chunk=64):
        """Project one feature map's activations down to pixel space (Z&F Sec. 2.1).

        x (N, 3, H, W); ``layer`` a layer name; ``channel`` an int -> result (N, 3, H, W), or a
        list of ints -> (N, len(channel), 3, H, W). At ``layer``'s output every activation is
        zeroed except, per image and channel: the strongest one (``position='max'``), the one at
        ``(i, j)``, or the whole map (``'all'``); the kept ones keep their value. The signal then
        goes down through every layer below: ``mode='deconv'`` (unpool, rectify, transposed
        filters: the deconvnet), ``'backprop'`` (the true gradient, times the activation), or
        ``'guided'`` (guided backprop). (image, channel) pairs run as one batch, ``chunk`` at a time.
        """
        if mode not in PROJECT_MODES:
            raise ValueError("mode must be one of %s, got %r" % (PROJECT_MODES, mode))
        names = list(self.layers)
        if layer not in self.layers:
            raise KeyError("no layer named %r (layers: %s)" % (layer, ", ".join(names)))
        channels = [channel] if np.isscalar(channel) else list(channel)
        xp = xp_of(x)
        n, k = x.shape[0], len(channels)
        pairs = [(i, c) for i in range(n) for c in channels]
        out = xp.empty((n * k,) + tuple(x.shape[1:]), dtype=x.dtype)
        for start in range(0, len(pairs), chunk):
            batch = pairs[start:start + chunk]
            img = xp.asarray([i for i, _ in batch])
            ch = [c for _, c in batch]
            a = self.forward(x[img], train=False, until=layer)
            r = keep_activations(a, ch, position)
            out[start:start + len(batch)] = self.down(r, layer, mode)
        out = out.reshape((n, k) + tuple(x.shape[1:]))
        return out[:, 0] if np.isscalar(channel) else out

    def down(self, r, layer, mode="deconv"):
        """Send signal r from ``layer``'s output down to the pixels, after a forward pass."""
        names = list(self.layers)
        for name in reversed(names[:names.index(layer) + 1]):
            r = self.layers[name].down(r, mode)
        return self._unscale(r)


def keep_activations(a, channels, position):
    """Zero every activation of ``a`` except, in row b, channel ``channels[b]`` at ``position``.

    a (B, C, H, W) or (B, D); ``position``: 'max' (that channel's strongest value), (i, j), or
    'all' (the whole map). The kept values keep their value.
    """
    xp = xp_of(a)
    b = a.shape[0]
    rows = xp.arange(b)
    ch = xp.asarray(channels)
    r = xp.zeros_like(a)
    if a.ndim == 2:  # a fully connected layer: the unit is the channel
        r[rows, ch] = a[rows, ch]
        return r
    maps = a[rows, ch]                                          # (B, H, W)
    if position == "all":
        r[rows, ch] = maps
        return r
    if position == "max":
        flat = maps.reshape(b, -1).argmax(axis=1)               # first maximum in row-major order
        i, j = flat // maps.shape[2], flat % maps.shape[2]
    else:
        i, j = position
        if not (0 <= i < maps.shape[1] and 0 <= j < maps.shape[2]):
            raise ValueError("position %r outside the %dx%d map" % (position, maps.shape[1], maps.shape[2]))
        i, j = xp.full(b, i), xp.full(b, j)
    r[rows, ch, i, j] = a[rows, ch, i, j]
    return r
