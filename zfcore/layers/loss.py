"""Softmax cross-entropy, the loss head (Z&F Sec. 3: softmax classifier over C classes)."""
import numpy as np

from zfcore import backend
from zfcore.backend import xp_of


def log_softmax(logits):
    """Stable log-softmax over the last axis (subtracting the row maximum before exp)."""
    xp = xp_of(logits)
    z = logits - logits.max(axis=1, keepdims=True)
    return z - xp.log(xp.exp(z).sum(axis=1, keepdims=True))


def softmax(logits):
    return xp_of(logits).exp(log_softmax(logits))


class SoftmaxCrossEntropy:
    """``loss = mean_n(-log softmax(logits_n)[label_n])``; ``backward() = (p - onehot) / N``."""

    def __init__(self):
        self.cache = None
        self.dlogits = None  # GPU: the fused kernel has already written backward's result

    def forward(self, logits, labels):
        xp = xp_of(logits)
        labels = xp.asarray(labels).astype(xp.int64)
        if backend.use_kernels(logits):
            loss, self.dlogits = softmax_xent_gpu(logits, labels)
            self.cache = (None, labels)
            return loss
        self.dlogits = None
        n = logits.shape[0]
        logp = log_softmax(logits)
        self.cache = (logp, labels)
        return -logp[xp.arange(n), labels].mean()

    def backward(self):
        if self.dlogits is not None:
            return self.dlogits
        xp = xp_of(self.cache[0])
        logp, labels = self.cache
        n = logp.shape[0]
        d = xp.exp(logp)
        d[xp.arange(n), labels] -= 1.0
        return d / n


# -- GPU: kernels/loss.cu ---------------------------------------------------------------------
def softmax_xent_gpu(logits, labels):
    """Loss (a 0-d array: the batch mean) and dL/dlogits (N, C) from one fused kernel, one
    block per row. logits (N, C) float32, labels (N,) int64, both CuPy."""
    xp = xp_of(logits)
    logits = xp.ascontiguousarray(logits)
    labels = xp.ascontiguousarray(labels, dtype=np.int64)
    n, c = logits.shape
    rows = xp.empty(n, dtype=np.float32)
    dlogits = xp.empty_like(logits)
    block = min(256, 1 << max(5, (c - 1).bit_length()))  # a power of two, >= 32, <= 256
    backend.launch_rows("loss", "softmax_xent_fwd_bwd", (logits, labels, rows, dlogits, np.int32(n),
                                                         np.int32(c)), n, block)
    return rows.mean(), dlogits
