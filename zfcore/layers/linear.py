"""Fully connected layers and the reshape in front of them (Z&F Fig. 3, layers 6-8).

Pure functions first, for both backends (the products go to BLAS / cuBLAS through ``@``), then
the two thin classes.
"""
import numpy as np

from zfcore.backend import xp_of
from zfcore.layers.base import Layer, init_scale, register


def flatten_forward(x):
    """(N, C, H, W) -> (N, C*H*W), row-major as NumPy's reshape (any (N, ...) works)."""
    return x.reshape(x.shape[0], -1)


def flatten_backward(dy, x_shape):
    """(N, D) -> (N,) + ``x_shape[1:]``: the reshape back. Also the deconv."""
    return dy.reshape((dy.shape[0],) + tuple(x_shape[1:]))


def linear_forward(x, W, b):
    """``y = x @ W.T + b``: x (N, D_in), W (D_out, D_in), b (D_out,) -> y (N, D_out)."""
    if xp_of(x) is not np:
        return x @ W.T + b
    # computed as (W @ x.T).T: OpenBLAS streams the large W faster this way round (fc6 of ZFNet
    # at batch 8: 14.5 against 20.6 ms); the bias add writes the C-ordered result
    return np.add((W @ x.T).T, b, out=np.empty((x.shape[0], W.shape[0]),
                                               dtype=np.result_type(x, W, b)))


def linear_backward_data(dy, W):
    """dL/dx = ``dy @ W``: dy (N, D_out) -> (N, D_in). Also the deconvnet's way down (``r @ W``,
    no bias: Z&F Sec. 2.1 uses the transposed weights)."""
    return dy @ W


def linear_backward_params(dy, x):
    """dL/dW = ``dy.T @ x`` (D_out, D_in) and dL/db = ``sum_n dy`` (D_out,), in new arrays."""
    return xp_of(x).matmul(dy.T, x), dy.sum(axis=0)


def linear_backward(dy, x, W, need_dx=True):
    """(dx or None, dW, db) of ``linear_forward`` for dy (N, D_out)."""
    dW, db = linear_backward_params(dy, x)
    return (linear_backward_data(dy, W) if need_dx else None), dW, db


@register("flatten")
class Flatten(Layer):
    """The reshape in front of the first fully connected layer. No arguments, no params.

    Shapes: x (N, C, H, W) -> y (N, C*H*W), row-major (C, H, W) as NumPy's reshape; backward and
    deconv reshape (N, C*H*W) back to (N, C, H, W).
    """

    def forward(self, x, train=False):
        self.cache = x.shape
        return flatten_forward(x)

    def backward(self, dy, need_dx=True):
        return flatten_backward(dy, self.cache)

    def deconv(self, r):
        return flatten_backward(r, self.cache)

    def output_shape(self, in_shape):
        return (int(np.prod(in_shape)),)


@register("linear")
class Linear(Layer):
    """A fully connected layer ``y = x @ W.T + b`` (Z&F Fig. 3, layers 6-8).

    Args:
        d_in, d_out: input and output widths (a net's last Linear gets ``num_classes``).
        std: weights ~ N(0, std^2) (Z&F Sec. 3: 1e-2); biases 0.
        rng: the numpy Generator the weights are drawn from (default: seed 0).

    Shapes: x (N, d_in) -> y (N, d_out); params ``W`` (d_out, d_in), ``b`` (d_out,); deconv
    ``r @ W`` (no bias): (N, d_out) -> (N, d_in).
    """

    classifier_arg = "d_out"

    def __init__(self, d_in, d_out, std=1e-2, rng=None):
        super().__init__()
        self.d_in, self.d_out = d_in, d_out
        rng = rng if rng is not None else np.random.default_rng(0)
        self.params = {
            "W": (rng.standard_normal((d_out, d_in)) * std).astype(np.float32),
            "b": np.zeros(d_out, dtype=np.float32),
        }

    @classmethod
    def from_spec(cls, in_shape, args, init_std, rng):
        """``args``: d_out; d_in is ``in_shape[0]`` (the fan-in)."""
        return cls(in_shape[0], args["d_out"], std=init_scale(init_std, in_shape[0]), rng=rng)

    def forward(self, x, train=False):
        self.cache = x
        return linear_forward(x, self.params["W"], self.params["b"])

    def backward(self, dy, need_dx=True):
        dx, self.grads["W"], self.grads["b"] = linear_backward(dy, self.cache, self.params["W"],
                                                               need_dx)
        return dx

    def deconv(self, r):
        return linear_backward_data(r, self.params["W"])

    def output_shape(self, in_shape):
        return (self.d_out,)

    def describe(self):
        return "%d->%d" % (self.d_in, self.d_out)
