"""The thin object every layer is: a cache between the pure functions of its op family, and
the registry that lets ``zfcore.models.build`` turn a spec's layer kind into a layer.

Adding a layer kind takes one module (pure functions, then a ``Layer`` subclass decorated with
``@register("kind")``), its kernel if it has a GPU path, and its test; nothing else changes.
"""
import numpy as np

LAYER_KINDS = {}


def register(kind):
    """Class decorator: ``@register("conv")`` makes spec entries ``[name, "conv", {...}]`` build
    this class (through its ``from_spec``). A kind names one class."""
    def add(cls):
        if LAYER_KINDS.get(kind, cls) is not cls:
            raise ValueError("layer kind %r is already %s" % (kind, LAYER_KINDS[kind].__name__))
        LAYER_KINDS[kind] = cls
        cls.kind = kind
        return cls
    return add


def layer_class(kind):
    """The class registered for ``kind``; ValueError naming it if there is none."""
    try:
        return LAYER_KINDS[kind]
    except KeyError:
        raise ValueError("unknown layer kind %r in spec (known: %s)"
                         % (kind, ", ".join(sorted(LAYER_KINDS)))) from None


def init_scale(std, fan_in):
    """The init scale: a number (Z&F Sec. 3: 1e-2) or 'he': sqrt(2 / fan_in) (He et al. 2015)."""
    return float(np.sqrt(2.0 / fan_in)) if std == "he" else float(std)


class Layer:
    """Holds parameters, their gradients, buffers, and what ``backward``/``deconv`` need from
    ``forward``.

    ``params`` holds the live arrays (writing into them changes the layer); ``grads`` gets the
    same keys after ``backward``, in arrays of its own (a later step never writes into them).
    ``state`` holds arrays that are not trained but belong to the layer (e.g. a normalisation's
    running statistics): checkpoints save and restore them. Layers without any keep them empty.
    """

    kind = None          # the spec's name for this class, set by ``register``
    classifier_arg = None  # the argument that ``num_classes`` fills on the net's last such layer

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.state = {}
        self.cache = None

    @classmethod
    def from_spec(cls, in_shape, args, init_std, rng):
        """Build from a spec entry: ``in_shape`` is one example's input shape, ``args`` the
        entry's arguments, ``init_std`` the spec's (a number or 'he', see ``init_std``), ``rng``
        the net's one Generator (draw from it only what the layer needs, in a fixed order)."""
        return cls(**args)

    def forward(self, x, train=False):
        raise NotImplementedError

    def fuses(self, nxt):
        """True if ``forward(x, train, then=nxt)`` can also do layer ``nxt``'s forward, in the
        pass that writes this layer's output (a conv's bias add and the ReLU after it), and
        ``backward(dy, need_dx, then=nxt)`` takes dy from above ``nxt`` and does its backward
        too; ``Net`` asks, and after the forward calls ``nxt.absorbed(y)`` with the result.
        Most layers fuse nothing."""
        return False

    def absorbed(self, y):
        """The layer before did this layer's forward in its own pass and got y: keep what
        backward and deconv need, as ``forward`` would have."""
        raise NotImplementedError

    def backward(self, dy, need_dx=True):
        """dL/dx for dL/dy; fills ``grads``. With ``need_dx=False`` (the first layer of a
        training step) it may skip dL/dx and return None."""
        raise NotImplementedError

    def deconv(self, r):
        """The deconvnet's way down (Z&F Sec. 2.1), after a forward pass."""
        raise NotImplementedError

    def down(self, r, mode="deconv"):
        """Send signal r down through this layer, after a forward pass: ``mode`` 'deconv' (the
        deconvnet), 'backprop' (the true gradient) or 'guided' (guided backprop). Most layers go
        down the same way in every mode (``deconv``); ReLU and LRN override this."""
        return self.deconv(r)

    def random_state(self):
        """The state of the layer's own random stream as JSON data, or None if it has none
        (checkpoints store it so that a resumed run draws what the original would have)."""
        return None

    def set_random_state(self, state):
        """Restore what ``random_state`` returned."""

    def output_shape(self, in_shape):
        """The shape of one example's output, (C, H, W) or (D,), for one example's input shape."""
        return in_shape

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, self.describe())

    def describe(self):
        return ""
