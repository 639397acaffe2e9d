"""The layers: each is a ``Layer`` with ``forward(x, train=False)``, ``backward(dy, need_dx)``,
``deconv(r)``, ``down(r, mode)``, ``params``, ``grads`` and ``state``. One module per op family;
pure functions first (NumPy reference, then the CuPy launchers), thin classes on top. Each class
is registered under its spec kind (``@register("conv")``); ``naive.py`` has every op again as
plain loops, the readable reference the tests compare against.

| layer               | module        | paper                                    |
|---------------------|---------------|------------------------------------------|
| Conv2D              | conv.py       | Z&F Sec. 2 (filtering), Sec. 2.1 deconv  |
| ReLU                | activation.py | Z&F Sec. 2.1 (rectification)             |
| MaxPool2D           | pool.py       | Z&F Sec. 2.1 (switches, unpooling)       |
| LRN                 | lrn.py        | Krizhevsky et al. 2012 Sec. 3.3          |
| Dropout             | dropout.py    | Z&F Sec. 3                               |
| Flatten, Linear     | linear.py     | Z&F Fig. 3 (layers 6-8)                  |
| SoftmaxCrossEntropy | loss.py       | Z&F Sec. 2 (softmax classifier)          |
| (all, as loops)     | naive.py      | the formulas, one number at a time       |
| Layer, register     | base.py       | the template and the kind registry       |
"""
from zfcore.layers.activation import ReLU
from zfcore.layers.base import LAYER_KINDS, Layer, layer_class, register
from zfcore.layers.conv import Conv2D
from zfcore.layers.dropout import Dropout
from zfcore.layers.linear import Flatten, Linear
from zfcore.layers.loss import SoftmaxCrossEntropy
from zfcore.layers.lrn import LRN
from zfcore.layers.pool import MaxPool2D

__all__ = ["Layer", "register", "layer_class", "LAYER_KINDS", "Conv2D", "ReLU", "MaxPool2D", "LRN",
           "Dropout", "Flatten", "Linear", "SoftmaxCrossEntropy"]
