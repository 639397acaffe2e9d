"""The layers: each has ``forward(x, train=False)``, ``backward(dy)``, ``deconv(r)``,
``params`` and ``grads``. One module per op family; pure functions first, thin classes on top.

| layer               | module        | paper                                    |
|---------------------|---------------|------------------------------------------|
| Conv2D              | conv.py       | Z&F Sec. 2 (filtering), Sec. 2.1 deconv  |
| ReLU                | activation.py | Z&F Sec. 2.1 (rectification)             |
| MaxPool2D           | pool.py       | Z&F Sec. 2.1 (switches, unpooling)       |
| LRN                 | lrn.py        | Krizhevsky et al. 2012 Sec. 3.3          |
| Dropout             | dropout.py    | Z&F Sec. 3                               |
| Flatten, Linear     | linear.py     | Z&F Fig. 3 (layers 6-8)                  |
| SoftmaxCrossEntropy | loss.py       | Z&F Sec. 2 (softmax classifier)          |
"""
from zfcore.layers.activation import ReLU
from zfcore.layers.base import Layer
from zfcore.layers.conv import Conv2D
from zfcore.layers.dropout import Dropout
from zfcore.layers.linear import Flatten, Linear
from zfcore.layers.loss import SoftmaxCrossEntropy
from zfcore.layers.lrn import LRN
from zfcore.layers.pool import MaxPool2D

__all__ = ["Layer", "Conv2D", "ReLU", "MaxPool2D", "LRN", "Dropout", "Flatten", "Linear",
           "SoftmaxCrossEntropy"]
