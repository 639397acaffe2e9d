"""The thin object every layer is: a cache between the pure functions of its op family."""


class Layer:
    """Holds parameters, their gradients, and what ``backward``/``deconv`` need from ``forward``.

    ``params`` holds the live arrays (writing into them changes the layer); ``grads`` gets the
    same keys after ``backward``. Layers without parameters keep both empty.
    """

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.cache = None

    def forward(self, x, train=False):
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

    def output_shape(self, in_shape):
        """The shape of one example's output, (C, H, W) or (D,), for one example's input shape."""
        return in_shape

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, self.describe())

    def describe(self):
        return ""
