"""A tiny hand-built net whose feature map 0 detects one known pattern, and images with that
pattern planted at known places: the oracle the visualisation tests check against."""
import numpy as np

from zfcore.models import build

PLUS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=np.float32)
SIZE = 16


def plus_spec():
    return {
        "arch": "plus_test", "input": (3, SIZE, SIZE), "num_classes": 3, "init_std": 0.1,
        "layers": [
            ["conv1", "conv", dict(c_out=4, k=3, stride=1, pad=1)], ["relu1", "relu", {}],
            ["pool1", "pool", dict(k=3, stride=2)],
            ["conv2", "conv", dict(c_out=4, k=3, stride=1, pad=1)], ["relu2", "relu", {}],
            ["pool2", "pool", dict(k=3, stride=2)],
            ["flatten", "flatten", {}],
            ["fc3", "linear", {}],
        ],
    }


def make_plus_net(seed=0):
    """conv1 map 0 fires only on a bright plus (all 3 colours): 15*a - 6 at its centre for a plus
    of brightness a, and nothing on background noise below 0.1; conv2 map 0 passes conv1 map 0
    on (centre tap 1); class 0's logit is the sum of pool2 map 0, the other classes see nothing."""
    net = build(plus_spec(), seed=seed)
    p = net.params()
    p["conv1.W"][0] = PLUS[None]
    p["conv1.b"][0] = -6.0
    p["conv1.W"][1:] *= 0.1
    p["conv2.W"][0] = 0.0
    p["conv2.W"][0, 0, 1, 1] = 1.0
    p["conv2.b"][:] = 0.0
    p["fc3.W"][:] = 0.0
    p["fc3.W"][0, :16] = 1.0          # flatten order (C, H, W): map 0 is the first 4*4 entries
    p["fc3.b"][:] = 0.0
    return net


def plant(x, i, j, a):
    """A plus of brightness ``a`` centred at (i, j) in every colour of image x (3, H, W)."""
    x[:, i - 1:i + 2, j - 1:j + 2] += a * PLUS


def noise_images(n, seed=0, amp=0.05):
    return (np.random.default_rng(seed).uniform(-amp, amp, (n, 3, SIZE, SIZE))).astype(np.float32)


