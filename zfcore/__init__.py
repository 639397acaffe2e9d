"""zfcore: the convnets of Zeiler & Fergus (ECCV 2014) and their deconvnet, from scratch.

Glossary used in every module:

- ``x, y``        activations entering / leaving a layer (NCHW, float32)
- ``dy, dx``      gradients of the loss w.r.t. ``y`` and ``x``; ``dW, db`` w.r.t. the parameters
- ``r``           a deconvnet signal travelling down towards the pixels (Z&F Sec. 2.1)
- ``N, C, H, W``  batch, channels, height, width; ``Ho, Wo`` an output's height and width
- ``k, s, p``     kernel size, stride, padding
- ``xp``          the array module of an array: ``numpy`` or ``cupy`` (see ``zfcore.backend``)
"""
import os as _os

__version__ = "0.1.0"

# OpenBLAS's idle threads spin for 2^28 cycles (~0.1 s) after every product, on the very cores the
# element-wise passes between the products are split over (zfcore.parallel): on the 2-CPU VM of
# bench/RESULTS.md a training step ran ~20% slower for it. 2^4 cycles makes them sleep at once
# (waking them costs ~50 us a product). It only takes effect if numpy is not imported yet, which
# is the case for ``python -m zfcore.<command>``; set it yourself otherwise. Yours wins.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
