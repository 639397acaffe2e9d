"""Softmax cross-entropy, the loss head (Z&F Sec. 3: softmax classifier over C classes)."""
import numpy as np

from zfcore import backend
from zfcore.backend import xp_of
from zfcore.layers.base import Layer


def log_softmax(logits):
    """Stable log-softmax over the last axis (subtracting the row maximum before exp)."""
    xp = xp_of(logits)
    z = logits - logits.max(axis=1, keepdims=True)
    return z - xp.log(xp.exp(z).sum(axis=1, keepdims=True))


def softmax(logits):
    return xp_of(logits).exp(log_softmax(logits))


def softmax_xent_forward(logits, labels):
    """``loss = mean_n -log softmax(logits_n)[label_n]`` (a 0-d array) and ``log_softmax`` for
    backward. logits (N, C), labels (N,) integers."""
    xp = xp_of(logits)
    logp = log_softmax(logits)
    return -logp[xp.arange(logits.shape[0]), labels].mean(), logp


def softmax_xent_backward(logp, labels):
    """dL/dlogits = ``(softmax - onehot(labels)) / N``, (N, C), from the forward's log_softmax."""
    xp = xp_of(logp)
    n = logp.shape[0]
    d = xp.exp(logp)
    d[xp.arange(n), labels] -= 1.0
    d /= n
    return d


class SoftmaxCrossEntropy(Layer):
    """The loss head: softmax over C classes and the mean cross-entropy (Z&F Sec. 2, 3).

    ``loss = head.forward(logits, labels)``: logits (N, C), labels (N,) integers (a list works)
    -> a 0-d array, ``mean_n -log softmax(logits_n)[label_n]``, computed with a stable
    log-sum-exp. ``head.backward()`` -> dL/dlogits (N, C) = ``(softmax - onehot) / N``; given
    ``dy`` (dL/dloss, a scalar) it is scaled by it. No arguments, no params; no deconv (the
    deconvnet starts from a feature map, not from the loss).
    """

    def __init__(self):
        super().__init__()
        self.dlogits = None  # GPU: the fused kernel has already written backward's result

    def forward(self, logits, labels, train=False):
        xp = xp_of(logits)
        if backend.use_kernels(logits):  # labels as given: a host array is range-checked there
            loss, self.dlogits = softmax_xent_gpu(logits, labels)
            self.cache = (None, None)
            return loss
        labels = xp.asarray(labels).astype(xp.int64)
        self.dlogits = None
        loss, logp = softmax_xent_forward(logits, labels)
        self.cache = (logp, labels)
        return loss

    def backward(self, dy=None, need_dx=True):
        if self.dlogits is not None:
            d = self.dlogits
        else:
            d = softmax_xent_backward(*self.cache)
        return d if dy is None else d * dy

    def deconv(self, r):
        raise TypeError("the loss head has no deconv: project from a layer of the net")

    def output_shape(self, in_shape):
        return ()


# -- GPU: kernels/loss.cu ---------------------------------------------------------------------
def softmax_xent_gpu(logits, labels):
    """Loss (a 0-d array: the batch mean) and dL/dlogits (N, C) from one fused kernel, one
    block per row. logits (N, C) float32 (CuPy), labels (N,) integers: a host array (or list)
    is checked to lie in [0, C) here; a device one is not read back (no sync), and the kernel
    writes NaN for the loss and the gradient row of a label out of range instead of reading
    past the row."""
    xp = xp_of(logits)
    if logits.ndim != 2:
        raise ValueError("softmax cross-entropy: logits must be (N, C), got %s"
                         % (tuple(logits.shape),))
    n, c = logits.shape
    if not backend.is_gpu(labels):
        labels = np.asarray(labels)
        if labels.dtype.kind not in "iu":
            raise ValueError("softmax cross-entropy: labels must be integers, got %s"
                             % labels.dtype)
        bad = (labels < 0) | (labels >= c)
        if labels.size and bad.any():
            raise ValueError("softmax cross-entropy: label %d at row %d is outside [0, %d)"
                             % (labels[bad][0], np.flatnonzero(bad)[0], c))
    if tuple(labels.shape) != (n,):
        raise ValueError("softmax cross-entropy: labels %s for %d rows of logits"
                         % (tuple(labels.shape), n))
    logits = xp.ascontiguousarray(logits)
    labels = xp.ascontiguousarray(xp.asarray(labels), dtype=np.int64)
    rows = xp.empty(n, dtype=np.float32)
    dlogits = xp.empty_like(logits)
    block = min(256, 1 << max(5, (c - 1).bit_length()))  # a power of two, >= 32, <= 256
    backend.launch_rows("loss", "softmax_xent_fwd_bwd", (logits, labels, rows, dlogits, np.int32(n),
                                                         np.int32(c)), n, block)
    return rows.mean(), dlogits
