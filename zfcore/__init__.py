"""zfcore: the convnets of Zeiler & Fergus (ECCV 2014) and their deconvnet, from scratch.

Glossary used in every module:

- ``x, y``        activations entering / leaving a layer (NCHW, float32)
- ``dy, dx``      gradients of the loss w.r.t. ``y`` and ``x``; ``dW, db`` w.r.t. the parameters
- ``r``           a deconvnet signal travelling down towards the pixels (Z&F Sec. 2.1)
- ``N, C, H, W``  batch, channels, height, width; ``Ho, Wo`` an output's height and width
- ``k, s, p``     kernel size, stride, padding
- ``xp``          the array module of an array: ``numpy`` or ``cupy`` (see ``zfcore.backend``)
"""
__version__ = "0.1.0"
