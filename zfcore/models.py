"""Architectures as data (Z&F Fig. 3; Krizhevsky et al. 2012), and the one function that builds
a ``Net`` from such a spec.

A spec is a dict: ``input`` (C, H, W), ``num_classes``, ``init_std``, ``input_scale`` (the
factor ``Net.forward`` applies to the mean-subtracted pixels; 1 in the paper) and ``layers``: a
list of ``[name, kind, {arguments}]`` where kind is one registered with ``zfcore.layers.register``
(conv / relu / pool / lrn / dropout / flatten / linear here). Each kind's class builds itself
(``Layer.from_spec``): conv and linear layers get their input size from the shapes flowing
through; the last linear layer's size is ``num_classes``. Every pool is 3x3 stride 2 with
ceil_mode; every LRN has the defaults of ``zfcore.layers.LRN``.
"""
import copy
import json

import numpy as np

from zfcore.layers import layer_class
from zfcore.net import Net


def _trunk(conv1, conv2, widths=(96, 256, 384, 384, 256), fc=4096):
    """The layer list shared by every net here; only conv1/conv2's geometry and widths differ.

    conv1/conv2: (k, stride, pad). Names are the contract's stable names.
    """
    c1, c2, c3, c4, c5 = widths
    pool = {"k": 3, "stride": 2}
    return [
        ["conv1", "conv", dict(c_out=c1, k=conv1[0], stride=conv1[1], pad=conv1[2])],
        ["relu1", "relu", {}], ["pool1", "pool", pool], ["norm1", "lrn", {}],
        ["conv2", "conv", dict(c_out=c2, k=conv2[0], stride=conv2[1], pad=conv2[2])],
        ["relu2", "relu", {}], ["pool2", "pool", pool], ["norm2", "lrn", {}],
        ["conv3", "conv", dict(c_out=c3, k=3, stride=1, pad=1)], ["relu3", "relu", {}],
        ["conv4", "conv", dict(c_out=c4, k=3, stride=1, pad=1)], ["relu4", "relu", {}],
        ["conv5", "conv", dict(c_out=c5, k=3, stride=1, pad=1)], ["relu5", "relu", {}],
        ["pool5", "pool", pool],
        ["flatten", "flatten", {}],
        ["fc6", "linear", dict(d_out=fc)], ["relu6", "relu", {}], ["drop6", "dropout", dict(p=0.5)],
        ["fc7", "linear", dict(d_out=fc)], ["relu7", "relu", {}], ["drop7", "dropout", dict(p=0.5)],
        ["fc8", "linear", {}],
    ]


SPECS = {
    # Z&F Fig. 3: 224 -> conv1 96@7x7/2 -> 110 -> pool 55 -> conv2 256@5x5/2 -> 26 -> pool 13
    # -> conv3-5 at 13 -> pool 6 -> fc 4096, 4096, C.
    "zfnet": dict(input=(3, 224, 224), layers=_trunk((7, 2, 1), (5, 2, 0))),
    # Krizhevsky et al. 2012 on one GPU: conv1 96@11x11/4 -> 55 -> pool 27 -> conv2 5x5/1 -> 27
    # -> pool 13 -> as zfnet.
    "alexnet": dict(input=(3, 224, 224), layers=_trunk((11, 4, 2), (5, 1, 2))),
    # 64x64 and 32x32: ZF keeps conv1's small filter and stride 2 (1 at 32x32) and AlexNet its
    # larger filter and stride; conv2 has stride 1 in both, so that conv3-5 work at 8x8 (4x4 was
    # too coarse to learn the synthetic shapes in a few epochs); narrower layers.
    "zfnet_small": dict(input=(3, 64, 64),
                        layers=_trunk((5, 2, 2), (3, 1, 1), (32, 64, 96, 96, 64), 256)),
    "alexnet_small": dict(input=(3, 64, 64),
                          layers=_trunk((9, 4, 4), (5, 1, 2), (32, 64, 96, 96, 64), 256)),
    "zfnet_small32": dict(input=(3, 32, 32),
                          layers=_trunk((3, 1, 1), (3, 1, 1), (32, 64, 96, 96, 64), 256)),
    "alexnet_small32": dict(input=(3, 32, 32),
                            layers=_trunk((5, 2, 2), (5, 1, 2), (32, 64, 96, 96, 64), 256)),
}


def spec_of(arch, num_classes=1000, input_channels=None, init_std=1e-2, input_scale=1.0):
    """A full spec for a named architecture: plain JSON types (lists, not tuples), so that it
    reads back from a checkpoint equal to itself."""
    if arch not in SPECS:
        raise ValueError("unknown architecture %r (known: %s)" % (arch, ", ".join(SPECS)))
    spec = copy.deepcopy(SPECS[arch])
    if input_channels is not None:
        spec["input"] = (input_channels,) + tuple(spec["input"][1:])
    spec.update(arch=arch, num_classes=int(num_classes), init_std=init_std,
                input_scale=float(input_scale))
    return json.loads(json.dumps(spec))


def build(spec, seed=0):
    """A ``Net`` from a spec. Weights ~ N(0, init_std^2) (Z&F Sec. 3: 1e-2), biases 0; every draw
    from one Generator seeded with ``seed``, layer by layer in the spec's order; dropout layers
    get seeds drawn from it. The last layer whose class has a ``classifier_arg`` (Linear:
    ``d_out``) gets ``num_classes`` there."""
    rng = np.random.default_rng(seed)
    std = spec.get("init_std", 1e-2)
    shape = tuple(spec["input"])
    classes = [layer_class(kind) for _, kind, _ in spec["layers"]]
    heads = [i for i, cls in enumerate(classes) if cls.classifier_arg is not None]
    layers = []
    for i, ((name, _, args), cls) in enumerate(zip(spec["layers"], classes)):
        if heads and i == heads[-1]:
            args = dict(args, **{cls.classifier_arg: spec["num_classes"]})
        layer = cls.from_spec(shape, dict(args), std, rng)
        shape = layer.output_shape(shape)
        layers.append((name, layer))
    return Net(layers, spec=spec, input_shape=spec["input"])


def zfnet(num_classes=1000, seed=0, init_std=1e-2):
    """ZFNet, Z&F Fig. 3."""
    return build(spec_of("zfnet", num_classes, init_std=init_std), seed)


def alexnet(num_classes=1000, seed=0, init_std=1e-2):
    """The dense single-GPU net of Krizhevsky et al. 2012 (as Z&F compare it, Sec. 4.1)."""
    return build(spec_of("alexnet", num_classes, init_std=init_std), seed)


def zfnet_small(num_classes=10, size=64, seed=0, init_std=1e-2):
    """A ZFNet for 64x64 (or ``size=32``) inputs that trains on a laptop CPU."""
    return build(spec_of("zfnet_small" if size == 64 else "zfnet_small%d" % size, num_classes,
                         init_std=init_std), seed)


def alexnet_small(num_classes=10, size=64, seed=0, init_std=1e-2):
    return build(spec_of("alexnet_small" if size == 64 else "alexnet_small%d" % size, num_classes,
                         init_std=init_std), seed)
