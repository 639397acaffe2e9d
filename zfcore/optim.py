"""SGD with momentum and the conv-filter RMS renormalisation of Z&F Sec. 3.

    v <- momentum * v - lr * (g + weight_decay * w)      (weight decay on weights, not biases)
    w <- w + v
    then every conv filter W[o] whose RMS exceeds ``max_filter_rms`` (0.1) is rescaled to it.
"""
import numpy as np

from zfcore import backend
from zfcore.backend import xp_of


def renormalise_filters(W, max_rms):
    """Rescale each filter W[o] (C_out, C_in, k, k) whose RMS exceeds ``max_rms`` to RMS = max_rms,
    in place (Z&F Sec. 3: it keeps layer-1 filters from dominating)."""
    xp = xp_of(W)
    rms = xp.sqrt((W.reshape(W.shape[0], -1) ** 2).mean(axis=1))     # (C_out,)
    scale = xp.where(rms > max_rms, max_rms / xp.maximum(rms, 1e-30), 1.0).astype(W.dtype)
    W *= scale.reshape(-1, 1, 1, 1)


class SGD:
    """Momentum SGD over ``net.params()``; the velocities are keyed like the params.

    ``frozen``: parameter keys ('conv1.W') or layer names ('conv1': all its parameters) that
    ``step`` leaves exactly as they are: no update, no weight decay, no renormalisation (Z&F
    Sec. 5.2: layers 1-7 kept fixed while a new softmax is trained)."""

    def __init__(self, net, lr=1e-2, momentum=0.9, weight_decay=5e-4, max_filter_rms=0.1,
                 frozen=()):
        self.net, self.lr, self.momentum = net, lr, momentum
        self.weight_decay, self.max_filter_rms = weight_decay, max_filter_rms
        keys = set(net.params())
        unknown = sorted(set(frozen) - keys - {k.rsplit(".", 1)[0] for k in keys})
        if unknown:
            raise ValueError("frozen: no parameter or layer named %s" % ", ".join(unknown))
        self.frozen = {k for k in keys if k in frozen or k.rsplit(".", 1)[0] in frozen}
        self.velocity = {key: xp_of(w).zeros_like(w) for key, w in net.params().items()}

    def _scratch(self, w):
        """A (w.shape) view of one buffer kept for the largest parameter."""
        buf = getattr(self, "_buf", None)
        if buf is None or buf.size < w.size or buf.dtype != w.dtype or xp_of(buf) is not xp_of(w):
            buf = self._buf = xp_of(w).empty(max(a.size for a in self.net.params().values()),
                                             dtype=w.dtype)
        return buf[:w.size].reshape(w.shape)

    def step(self):
        grads = self.net.grads()
        for key, w in self.net.params().items():
            if key in self.frozen:
                continue
            g = grads[key]
            if backend.use_kernels(w):  # one fused kernel: update and renorm in one pass
                sgd_step_gpu(w, g, self.velocity[key], self.lr, self.momentum,
                             (self.weight_decay or 0.0) if key.endswith(".W") else 0.0,
                             (self.max_filter_rms or 0.0) if w.ndim == 4 else 0.0)
                continue
            # step = lr * (g + weight_decay * w), built in one reused buffer: fresh temporaries
            # the size of fc6 (150 MB) cost more in page faults than the arithmetic itself
            step = self._scratch(w)
            if self.weight_decay and key.endswith(".W"):
                xp_of(w).multiply(w, self.weight_decay, out=step)
                step += g
            else:
                step[...] = g
            step *= self.lr
            v = self.velocity[key]
            v *= self.momentum
            v -= step
            w += v
            if self.max_filter_rms and w.ndim == 4:
                renormalise_filters(w, self.max_filter_rms)


# -- GPU: kernels/optim.cu --------------------------------------------------------------------
def sgd_step_gpu(w, g, v, lr, momentum, weight_decay, max_rms):
    """In place on CuPy float32 ``w`` and ``v``: ``v = momentum*v - lr*(g + weight_decay*w)``,
    ``w += v``; then, if ``max_rms`` > 0, each filter ``w[o]`` whose RMS exceeds it is rescaled
    to it (``sgd_momentum_renorm``: one block per filter). ``w``, ``v`` must be C-contiguous."""
    xp = xp_of(w)
    if not (w.flags.c_contiguous and v.flags.c_contiguous):
        raise ValueError("sgd_step_gpu updates w and v in place: both must be C-contiguous")
    g = xp.ascontiguousarray(g, dtype=np.float32)
    lr, mu, wd = np.float32(lr), np.float32(momentum), np.float32(weight_decay)
    if max_rms:
        filters = w.shape[0]
        backend.launch_rows("optim", "sgd_momentum_renorm",
                            (w, g, v, lr, mu, wd, np.float32(max_rms), np.int32(filters),
                             np.int32(w.size // filters)), filters, 256)
    else:
        backend.launch("optim", "sgd_momentum", (w, g, v, lr, mu, wd, np.int64(w.size)), w.size)
