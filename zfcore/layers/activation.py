"""ReLU, and its three ways down: backprop, deconvnet, guided backprop (Z&F Sec. 2.1)."""
from zfcore.backend import xp_of
from zfcore.layers.base import Layer


def relu_forward(x):
    """``max(x, 0)``."""
    return xp_of(x).maximum(x, 0)


def relu_backward(dy, x):
    """``dy * (x > 0)``: relu'(0) = 0."""
    return dy * (x > 0)


def relu_deconv(r):
    """The deconvnet's rectification (Z&F Sec. 2.1): ``max(r, 0)`` on the signal itself, not
    masked by where the forward pass was positive."""
    return xp_of(r).maximum(r, 0)


def relu_guided(r, x):
    """Guided backprop (Springenberg et al. 2015): both masks, ``max(r, 0) * (x > 0)``."""
    return relu_deconv(r) * (x > 0)


class ReLU(Layer):
    def forward(self, x, train=False):
        self.cache = x
        return relu_forward(x)

    def backward(self, dy):
        return relu_backward(dy, self.cache)

    def deconv(self, r):
        return relu_deconv(r)

    def guided(self, r):
        return relu_guided(r, self.cache)
