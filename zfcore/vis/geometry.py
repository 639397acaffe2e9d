"""Where in the image a unit looks: receptive fields from the layer specs, and the layers the
visualisations pick by default.

A unit at (i, j) of a layer's output sees the input rows ``start + i*jump ... start + i*jump +
size - 1`` (and the same for columns). Through a conv or pool with kernel k, stride s, pad p:
``start' = start - p*jump``, ``size' = size + (k-1)*jump``, ``jump' = jump*s``. ReLU, LRN and
dropout leave the geometry alone; from Flatten on every unit sees the whole image.
"""
from collections import namedtuple

import numpy as np

from zfcore.layers import Conv2D, Flatten, Linear, MaxPool2D, ReLU

RF = namedtuple("RF", "start jump size")


def receptive_fields(net):
    """{layer name: RF(start, jump, size)} in input pixels; ``size`` is None from Flatten on."""
    start, jump, size = 0, 1, 1
    out = {}
    for name, layer in net.layers.items():
        if isinstance(layer, (Flatten, Linear)) or size is None:
            start, jump, size = 0, 1, None
        elif isinstance(layer, Conv2D):
            start, size, jump = (start - layer.pad * jump, size + (layer.k - 1) * jump,
                                 jump * layer.stride)
        elif isinstance(layer, MaxPool2D):
            size, jump = size + (layer.k - 1) * jump, jump * layer.stride
        out[name] = RF(start, jump, size)
    return out


def rf_boxes(rf, i, j, hw):
    """Boxes (N, 4) (y0, x0, y1, x1), end exclusive, of the units at rows ``i``, columns ``j``
    (arrays) on an image of size ``hw`` = (H, W).

    Every box has the same size, ``min(rf.size, H)`` by ``min(rf.size, W)``: the receptive field
    itself where it lies inside the image; shifted inside the image where it crosses the border;
    the whole image where it is larger than the image (deep layers).
    """
    h, w = hw
    i, j = np.asarray(i).reshape(-1), np.asarray(j).reshape(-1)
    size = rf.size if rf.size is not None else max(h, w)
    sh, sw = min(size, h), min(size, w)
    if rf.size is None:
        y0, x0 = np.zeros_like(i), np.zeros_like(j)
    else:
        y0 = np.clip(rf.start + i * rf.jump, 0, h - sh)
        x0 = np.clip(rf.start + j * rf.jump, 0, w - sw)
    return np.stack([y0, x0, y0 + sh, x0 + sw], axis=1).astype(int)


def conv_blocks(net):
    """The ReLU after each conv layer, in order (Z&F's "layer 1" ... "layer 5" features)."""
    names = list(net.layers)
    out = []
    for k, name in enumerate(names):
        if isinstance(net.layers[name], Conv2D):
            nxt = names[k + 1] if k + 1 < len(names) else None
            out.append(nxt if nxt is not None and isinstance(net.layers[nxt], ReLU) else name)
    return out


def top_conv_layer(net):
    """The output of the last conv block: the pool after the last conv if there is one
    ('pool5' in ZFNet), else that conv's ReLU."""
    names = list(net.layers)
    last = max(k for k, n in enumerate(names) if isinstance(net.layers[n], Conv2D))
    best = names[last]
    for name in names[last + 1:]:
        if isinstance(net.layers[name], (Flatten, Linear, Conv2D)):
            break
        best = name
    return best


def penultimate_layer(net):
    """The ReLU after the last-but-one linear layer ('relu7' in ZFNet), or the last layer before
    the classifier when there is only one linear layer."""
    names = list(net.layers)
    linear = [k for k, n in enumerate(names) if isinstance(net.layers[n], Linear)]
    if len(linear) < 2:
        return names[linear[-1] - 1] if linear and linear[-1] > 0 else names[-1]
    k = linear[-2]
    nxt = names[k + 1]
    return nxt if isinstance(net.layers[nxt], ReLU) else names[k]


def layer_number(net, name):
    """Z&F's numbering: the number of conv/linear layers up to and including ``name``'s block."""
    n = 0
    for layer_name, layer in net.layers.items():
        if isinstance(layer, (Conv2D, Linear)):
            n += 1
        if layer_name == name:
            return n
    raise KeyError(name)
