"""Softmax cross-entropy, the loss head (Z&F Sec. 3: softmax classifier over C classes)."""
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

    def forward(self, logits, labels):
        xp = xp_of(logits)
        labels = xp.asarray(labels).astype(xp.int64)
        n = logits.shape[0]
        logp = log_softmax(logits)
        self.cache = (logp, labels)
        return -logp[xp.arange(n), labels].mean()

    def backward(self):
        xp = xp_of(self.cache[0])
        logp, labels = self.cache
        n = logp.shape[0]
        d = xp.exp(logp)
        d[xp.arange(n), labels] -= 1.0
        return d / n
