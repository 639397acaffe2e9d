"""SGD with momentum and the conv-filter RMS renormalisation of Z&F Sec. 3.

    v <- momentum * v - lr * (g + weight_decay * w)      (weight decay on weights, not biases)
    w <- w + v
    then every conv filter W[o] whose RMS exceeds ``max_filter_rms`` (0.1) is rescaled to it.
"""
import numpy as np

from zfcore import backend, parallel
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

    def step(self):
        grads = self.net.grads()
        for key, w in self.net.params().items():
            if key in self.frozen:
                continue
            g = grads[key]
            decay = (self.weight_decay or 0.0) if key.endswith(".W") else 0.0
            if backend.use_kernels(w):  # one fused kernel: update and renorm in one pass
                sgd_step_gpu(w, g, self.velocity[key], self.lr, self.momentum, decay,
                             (self.max_filter_rms or 0.0) if w.ndim == 4 else 0.0)
                continue
            sgd_step(w, g, self.velocity[key], self.lr, self.momentum, decay)
            if self.max_filter_rms and w.ndim == 4:
                renormalise_filters(w, self.max_filter_rms)


# Elements per block of the NumPy update: its three arrays and the scratch stay in a core's L2,
# so the five operations cost about one pass over memory (fc6 alone is 150 MB).
SGD_BLOCK = 1 << 15


def sgd_step(w, g, v, lr, momentum, weight_decay):
    """In place: ``v = momentum * v - lr * (g + weight_decay * w)``, ``w += v``.

    Done block by block (``SGD_BLOCK`` elements, split over the cores by ``zfcore.parallel``):
    every element goes through the same operations in the same order as a whole-array update,
    so the result is the same bit for bit."""
    if xp_of(w) is not np or not (w.flags.c_contiguous and v.flags.c_contiguous):
        step = lr * (g + weight_decay * w) if weight_decay else lr * g
        v *= momentum
        v -= step
        w += v
        return
    wf, gf, vf = w.reshape(-1), g.reshape(-1), v.reshape(-1)
    blocks = -(-w.size // SGD_BLOCK)

    def update(lo, hi):
        step = np.empty(SGD_BLOCK, dtype=w.dtype)
        for i in range(lo, hi):
            a, b = i * SGD_BLOCK, min(w.size, (i + 1) * SGD_BLOCK)
            st, wb, vb = step[:b - a], wf[a:b], vf[a:b]
            if weight_decay:
                np.multiply(wb, weight_decay, out=st)
                st += gf[a:b]
            else:
                st[...] = gf[a:b]
            st *= lr
            vb *= momentum
            vb -= st
            wb += vb

    parallel.over(blocks, update, 3 * w.size)


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
