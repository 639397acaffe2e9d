"""Inverted dropout (Srivastava et al.; Z&F Sec. 3 use p = 0.5 in fc6 and fc7)."""
import numpy as np

from zfcore import backend
from zfcore.backend import xp_of
from zfcore.layers.base import Layer, register


def dropout_mask(shape, p, rng, xp=np, dtype=np.float32):
    """Keep each unit with probability 1 - p; kept units carry the scale 1 / (1 - p), rounded
    once to ``dtype`` (a float32 scale would be off by ~1e-8 in a float64 net)."""
    keep = rng.random(shape, dtype=np.float32) >= p
    dtype = np.dtype(dtype)
    return xp.asarray(keep.astype(dtype) * dtype.type(1.0 / (1.0 - p)))


def dropout_forward(x, mask):
    """``y = x * mask``: mask from ``dropout_mask`` (0 or 1 / (1 - p)), x's shape."""
    return x * mask


def dropout_backward(dy, mask):
    """``dx = dy * mask``: the same mask as the forward pass (``mask=None``: eval, identity)."""
    return dy if mask is None else dy * mask


def dropout_deconv(r):
    """The deconvnet passes through dropout unchanged (it runs on the eval-mode net)."""
    return r


@register("dropout")
class Dropout(Layer):
    """Inverted dropout (Z&F Sec. 3: p = 0.5 in fc6 and fc7): a new mask on every training
    forward, from the layer's own Generator; identity at eval and on the deconvnet path.

    Args:
        p: the probability of dropping a unit, in [0, 1); kept units are scaled by 1 / (1 - p).
        seed: the seed of the layer's own Generator ``self.rng``.

    Shapes: any; y, dx and r have x's shape. No params. The Generator's state is the layer's
    ``random_state()`` (checkpoints keep it).
    """

    def __init__(self, p=0.5, seed=None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError("dropout p must be in [0, 1), got %r" % (p,))
        self.p = p
        self.rng = np.random.default_rng(seed)
        self.mask = None
        self.mask_seed = None  # GPU: the mask is kernels/dropout.cu's, drawn from this seed

    @classmethod
    def from_spec(cls, in_shape, args, init_std, rng):
        """``args``: p (0.5); the layer's seed is one draw from the net's Generator."""
        return cls(args.get("p", 0.5), seed=int(rng.integers(2 ** 31)))

    def forward(self, x, train=False):
        self.mask_seed = None
        if not train or self.p == 0.0:
            self.mask = None
            return x
        if backend.use_kernels(x):
            self.mask, self.mask_seed = None, int(self.rng.integers(1 << 63))
            return dropout_gpu(x, self.p, self.mask_seed)
        self.mask = dropout_mask(x.shape, self.p, self.rng, xp_of(x), x.dtype)
        return dropout_forward(x, self.mask)

    def backward(self, dy, need_dx=True):
        if self.mask_seed is not None:
            return dropout_gpu(dy, self.p, self.mask_seed)
        return dropout_backward(dy, self.mask)

    def deconv(self, r):
        return dropout_deconv(r)

    def random_state(self):
        return self.rng.bit_generator.state

    def set_random_state(self, state):
        self.rng.bit_generator.state = state

    def describe(self):
        return "p=%g" % self.p


# -- GPU: kernels/dropout.cu ------------------------------------------------------------------
def dropout_gpu(x, p, seed):
    """``x * mask`` with the mask drawn in the kernel from (seed, element index) by Philox-4x32-10:
    keep where u >= p (u uniform in [0, 1), 24 bits, as NumPy's float32 draws), scale 1/(1-p).
    The same seed gives the same mask, so backward is this call again on dy. x float32 (CuPy).
    """
    xp = xp_of(x)
    x = xp.ascontiguousarray(x)
    y = xp.empty_like(x)
    backend.launch("dropout", "dropout_fwd", (x, y, np.float32(p), np.float32(1.0 / (1.0 - p)),
                                              np.uint64(seed), np.int64(x.size)), -(-x.size // 4))
    return y
