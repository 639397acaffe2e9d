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
    def forward(self, x, train=False, until=None, keep=None):
        """Run the layers in order on x (N, C, H, W), after multiplying it by ``input_scale``.

        Returns the last layer's output; with ``until``, the output of that layer (the pass stops
        there); with ``keep`` (a list of layer names), {name: output} of those layers from one
        pass, which stops after the deepest of them. This is the only way into the layers:
        training, evaluation, projections and every analysis call it.
        """
        names = [until] if until is not None else list(keep or [])
        missing = [name for name in names if name not in self.layers]
        if missing:
            raise KeyError("no layer named %s (layers: %s)"
                           % (", ".join(map(repr, missing)), ", ".join(self.layers)))
        want = set(names)
        self.check_input(x)
        if self.input_scale != 1.0:
            x = x * x.dtype.type(self.input_scale)
        out = {}
        items = list(self.layers.items())
        i = 0
        while i < len(items):
            name, layer = items[i]
            after = items[i + 1][1] if i + 1 < len(items) else None
            if after is not None and name not in want and layer.fuses(after):
                x = layer.forward(x, train=train, then=after)   # both layers in one pass
                after.absorbed(x)
                i += 1
                name = items[i][0]
            else:
                x = layer.forward(x, train=train)
            if name in want:
                out[name] = x
                if len(out) == len(want):
                    break
            i += 1
        if keep is not None:
            return out
        return x

    def check_input(self, x):
        """ValueError naming the first layer, the shape it takes and the shape given, when x is
        not a batch (N, C, H, W) of the net's input shape."""
        if self.input_shape is None:
            return
        first = next(iter(self.layers))
        shape = tuple(getattr(x, "shape", ()))
        if len(shape) != 1 + len(self.input_shape) or shape[1:] != self.input_shape:
            raise ValueError("%s: expected a batch of shape (N, %s), got %s"
                             % (first, ", ".join(map(str, self.input_shape)), shape))

    def loss(self, logits, labels):
        return self.head.forward(logits, labels)

    def backward(self, dlogits=None, input_grad=True, until=None):
        """Backpropagate from the head (or from ``dlogits``); fills every layer's grads; returns
        dL/dx, or None with ``input_grad=False`` where the first layer can skip it (training).

        ``until``: the lowest layer to go down to (training with the layers below it frozen, Z&F
        Sec. 5.2): it fills its grads but computes no dL/dx, and the layers below it are not
        visited (their grads stay as they were); returns None."""
        d = self.head.backward() if dlogits is None else dlogits
        layers = list(self.layers.values())
        lowest = 0
        if until is not None:
            if until not in self.layers:
                raise KeyError("no layer named %r (layers: %s)" % (until, ", ".join(self.layers)))
            lowest, input_grad = list(self.layers).index(until), False
        i = len(layers) - 1
        while i >= lowest:
            layer = layers[i]
            if i > lowest and layers[i - 1].fuses(layer):    # a conv and its ReLU: one pass down
                i -= 1
                d = layers[i].backward(d, need_dx=input_grad or i > lowest, then=layer)
            else:
                d = layer.backward(d, need_dx=input_grad or i > lowest)
            i -= 1
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
        """Move every parameter and state buffer to 'numpy' or 'cupy'; returns the net."""
        for key, a in self.params().items():
            self.set_param(key, to_device(a, device))
        for layer in self.layers.values():
            layer.state = {key: to_device(a, device) for key, a in layer.state.items()}
            layer.grads, layer.cache = {}, None
        return self

    def astype(self, dtype):
        """Cast every parameter and floating-point state buffer to ``dtype``; returns the net."""
        for key, a in self.params().items():
            self.set_param(key, a.astype(dtype))
        for layer in self.layers.values():
            layer.state = {key: a.astype(dtype) if a.dtype.kind == "f" else a
                           for key, a in layer.state.items()}
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
        ``'guided'`` (guided backprop). (image, channel) pairs run as one batch, ``chunk`` at a
        time.
        """
        channels = [channel] if np.isscalar(channel) else list(channel)
        n, k = x.shape[0], len(channels)
        rows = np.repeat(np.arange(n), k)
        if isinstance(position, str):
            i = j = position
        else:
            i, j = np.full(n * k, position[0]), np.full(n * k, position[1])
        out = self.project_units(x, layer, np.tile(channels, n), i, j, mode, chunk, images=rows)
        out = out.reshape((n, k) + tuple(x.shape[1:]))
        return out[:, 0] if np.isscalar(channel) else out

    def project_units(self, x, layer, channels, i="max", j=None, mode="deconv", chunk=64,
                      images=None):
        """Project single units to pixel space (Z&F Sec. 2.1), one per row, batched.

        x (B, 3, H, W): row b's image; ``channels`` (B,): the feature map of row b; ``i``, ``j``
        (B,): the unit's position in ``layer``'s output, or ``i='max'`` (that map's strongest
        activation in row b's image) or ``i='all'`` (the whole map). Every other activation of
        the layer is zeroed, the kept ones keep their value, and the signal goes down to the
        pixels (``mode`` as in ``project``). Returns (B, 3, H, W) on x's device, ``chunk`` rows
        per forward pass. ``images`` (B,): row b projects image ``x[images[b]]`` instead (the
        rows are gathered a chunk at a time, so x is never copied B times).
        """
        if mode not in PROJECT_MODES:
            raise ValueError("mode must be one of %s, got %r" % (PROJECT_MODES, mode))
        if layer not in self.layers:
            raise KeyError("no layer named %r (layers: %s)" % (layer, ", ".join(self.layers)))
        xp = xp_of(x)
        channels = np.asarray(channels).reshape(-1)
        b = x.shape[0] if images is None else len(images)
        if len(channels) != b:
            raise ValueError("project_units: %d channels for %d images" % (len(channels), b))
        out = xp.empty((b,) + tuple(x.shape[1:]), dtype=x.dtype)
        for s in range(0, b, chunk):
            e = min(s + chunk, b)
            xb = x[s:e] if images is None else x[xp.asarray(np.asarray(images)[s:e])]
            a = self.forward(xb, train=False, until=layer)
            at = i if isinstance(i, str) else (np.asarray(i).reshape(-1)[s:e],
                                                np.asarray(j).reshape(-1)[s:e])
            out[s:e] = self.down(keep_activations(a, channels[s:e], at), layer, mode)
        return out

    def down(self, r, layer, mode="deconv"):
        """Send signal r from ``layer``'s output down to the pixels, after a forward pass: each
        layer's ``down(r, mode)`` in reverse order, then through ``input_scale``."""
        names = list(self.layers)
        for name in reversed(names[:names.index(layer) + 1]):
            r = self.layers[name].down(r, mode)
        return self._unscale(r)


def keep_activations(a, channels, position):
    """Zero every activation of ``a`` except, in row b, channel ``channels[b]`` at ``position``.

    a (B, C, H, W) or (B, D); ``position``: 'max' (that channel's strongest value, the first in
    row-major order on ties), 'all' (the whole map), (i, j) (one place for every row), or a pair
    of (B,) arrays (a place per row). The kept values keep their value. For a (B, D) layer the
    unit is the channel and the position is ignored.
    """
    xp = xp_of(a)
    b = a.shape[0]
    rows = xp.arange(b)
    ch = xp.asarray(np.asarray(channels))
    r = xp.zeros_like(a)
    if a.ndim == 2:  # a fully connected layer: the unit is the channel
        r[rows, ch] = a[rows, ch]
        return r
    maps = a[rows, ch]                                          # (B, H, W)
    if isinstance(position, str) and position == "all":
        r[rows, ch] = maps
        return r
    if isinstance(position, str):
        if position != "max":
            raise ValueError("position must be 'max', 'all' or (i, j), got %r" % (position,))
        flat = maps.reshape(b, -1).argmax(axis=1)               # first maximum in row-major order
        i, j = flat // maps.shape[2], flat % maps.shape[2]
    else:
        i, j = (np.broadcast_to(np.asarray(v), (b,)) for v in position)
        if not ((0 <= i).all() and (i < maps.shape[1]).all() and (0 <= j).all()
                and (j < maps.shape[2]).all()):
            raise ValueError("position %r outside the %dx%d map"
                             % (position, maps.shape[1], maps.shape[2]))
        i, j = xp.asarray(i), xp.asarray(j)
    r[rows, ch, i, j] = a[rows, ch, i, j]
    return r
