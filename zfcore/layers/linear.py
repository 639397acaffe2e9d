"""Fully connected layers and the reshape in front of them."""
import numpy as np

from zfcore.backend import xp_of
from zfcore.layers.base import Layer


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W), row-major as NumPy's reshape; deconv reshapes back."""

    def forward(self, x, train=False):
        self.cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy, need_dx=True):
        return dy.reshape((dy.shape[0],) + tuple(self.cache[1:]))

    deconv = backward

    def output_shape(self, in_shape):
        return (int(np.prod(in_shape)),)


class Linear(Layer):
    """``y = x @ W.T + b`` with W (out, in). deconv: ``r @ W`` (the transpose, no bias)."""

    def __init__(self, d_in, d_out, std=1e-2, rng=None):
        super().__init__()
        self.d_in, self.d_out = d_in, d_out
        rng = rng if rng is not None else np.random.default_rng(0)
        self.params = {
            "W": (rng.standard_normal((d_out, d_in)) * std).astype(np.float32),
            "b": np.zeros(d_out, dtype=np.float32),
        }

    def forward(self, x, train=False):
        self.cache = x
        return x @ self.params["W"].T + self.params["b"]

    def backward(self, dy, need_dx=True):
        x = self.cache
        # dW is written into the previous backward's array when it fits: a fresh one every step
        # (fc6: 150 MB) costs more in page faults than the product itself
        dW = self.grads.get("W")
        fits = (dW is not None and dW.shape == self.params["W"].shape and type(dW) is type(x)
                and dW.dtype == np.result_type(dy.dtype, x.dtype))
        self.grads["W"] = xp_of(x).matmul(dy.T, x, out=dW if fits else None)
        self.grads["b"] = dy.sum(axis=0)
        return dy @ self.params["W"]

    def deconv(self, r):
        return r @ self.params["W"]

    def output_shape(self, in_shape):
        return (self.d_out,)

    def describe(self):
        return "%d->%d" % (self.d_in, self.d_out)
