"""ReLU, and its three ways down: backprop, deconvnet, guided backprop (Z&F Sec. 2.1)."""
import numpy as np

from zfcore import backend, parallel
from zfcore.backend import xp_of
from zfcore.layers.base import Layer, register


def relu_forward(x):
    """``max(x, 0)``."""
    if backend.use_kernels(x):
        return _relu_gpu("relu_fwd", x)
    xp = xp_of(x)
    y = xp.empty_like(x)
    parallel.over(len(x), lambda lo, hi: xp.maximum(x[lo:hi], 0, out=y[lo:hi]), 2 * x.size,
                  like=x)
    return y


def relu_backward(dy, x):
    """``dy * (x > 0)``: relu'(0) = 0. (x may be the ReLU's output: the same mask.)"""
    if backend.use_kernels(dy):
        return _relu_gpu("relu_bwd", dy, x)
    xp = xp_of(dy)
    if dy.shape != x.shape or dy.dtype != x.dtype:
        return dy * (x > 0)
    dx = xp.empty_like(dy)
    parallel.over(len(dy), lambda lo, hi: xp.multiply(dy[lo:hi], x[lo:hi] > 0, out=dx[lo:hi]),
                  3 * dy.size, like=dy)
    return dx


def relu_deconv(r):
    """The deconvnet's rectification (Z&F Sec. 2.1): ``max(r, 0)`` on the signal itself, not
    masked by where the forward pass was positive."""
    return relu_forward(r)


def relu_guided(r, x):
    """Guided backprop (Springenberg et al. 2015): both masks, ``max(r, 0) * (x > 0)``."""
    if backend.use_kernels(r):
        return _relu_gpu("relu_guided", r, x)
    return relu_deconv(r) * (x > 0)


@register("relu")
class ReLU(Layer):
    """Rectification ``y = max(x, 0)``, relu'(0) = 0 (Z&F Sec. 2.1). No arguments, no params.

    Shapes: any; y, dx and the signals down have x's shape. Three ways down after a forward:
    ``backward`` (``dy * (x > 0)``), ``deconv`` (``max(r, 0)``: the deconvnet rectifies the
    signal itself) and ``guided`` (both masks, Springenberg et al. 2015).
    """

    def forward(self, x, train=False):
        y = relu_forward(x)
        self.cache = y          # y > 0 exactly where x > 0: the mask of every way down
        return y

    def absorbed(self, y):
        self.cache = y

    def backward(self, dy, need_dx=True):
        return relu_backward(dy, self.cache)

    def deconv(self, r):
        return relu_deconv(r)

    def guided(self, r):
        return relu_guided(r, self.cache)

    def down(self, r, mode="deconv"):
        """deconv: ``max(r, 0)``; backprop: ``r * (x > 0)``; guided: both."""
        if mode == "deconv":
            return self.deconv(r)
        return self.backward(r) if mode == "backprop" else self.guided(r)


# -- GPU: kernels/activation.cu ---------------------------------------------------------------
def _relu_gpu(name, *arrays):
    """One fused elementwise pass: ``relu_fwd(x)``, ``relu_bwd(dy, x)`` or ``relu_guided(r, x)``."""
    xp = xp_of(arrays[0])
    if len(arrays) == 2 and tuple(arrays[0].shape) != tuple(arrays[1].shape):
        raise ValueError("%s: the signal is %s but the forward input x is %s (same shape needed)"
                         % (name, tuple(arrays[0].shape), tuple(arrays[1].shape)))
    arrays = [xp.ascontiguousarray(a, dtype=np.float32) for a in arrays]
    out = xp.empty_like(arrays[0])
    backend.launch("activation", name, tuple(arrays) + (out, np.int64(out.size)), out.size)
    return out
