"""Small specs and data the experiment tests share (fast on a loaded 2-core CPU)."""
import numpy as np

from zfcore.data import Dataset


def spec5(num_classes=3):
    """ZF-shaped (5 convs, 2 hidden fcs, the softmax) on 16x16 inputs, few channels: small
    enough to count its parameters by hand (tests/experiments/test_specs.py)."""
    pool = {"k": 3, "stride": 2}

    def conv(c):
        return dict(c_out=c, k=3, stride=1, pad=1)

    layers = [
        ["conv1", "conv", conv(4)], ["relu1", "relu", {}], ["pool1", "pool", pool],
        ["conv2", "conv", conv(6)], ["relu2", "relu", {}],
        ["conv3", "conv", conv(8)], ["relu3", "relu", {}],
        ["conv4", "conv", conv(8)], ["relu4", "relu", {}],
        ["conv5", "conv", conv(6)], ["relu5", "relu", {}], ["pool5", "pool", pool],
        ["flatten", "flatten", {}],
        ["fc6", "linear", dict(d_out=10)], ["relu6", "relu", {}], ["drop6", "dropout", {"p": 0.0}],
        ["fc7", "linear", dict(d_out=10)], ["relu7", "relu", {}], ["drop7", "dropout", {"p": 0.0}],
        ["fc8", "linear", {}],
    ]
    return dict(arch="tiny5", input=[3, 16, 16], num_classes=num_classes, init_std="he",
                input_scale=1 / 64, layers=layers)


def bars(n, seed, size=16):
    """Two classes of 16x16 images: a bright horizontal (0) or vertical (1) bar, 7x2 pixels,
    at a random place on grey noise. A linear classifier on the pixels does poorly (the bar
    can be anywhere); a conv net with pooling learns it in a few dozen steps."""
    rng = np.random.default_rng(seed)
    images = rng.normal(110, 25, (n, size, size, 3)).clip(0, 255)
    labels = np.arange(n) % 2
    for i, y in enumerate(labels):
        h, w = (2, 7) if y == 0 else (7, 2)
        r, c = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
        images[i, r:r + h, c:c + w] = 250
    images = images.astype(np.uint8)
    return Dataset(images, labels, ["horizontal", "vertical"],
                   images.reshape(-1, size, size, 3).mean(axis=0), "bars", "train")


def random_images(n, num_classes, seed, size=16):
    """Noise images, labelled in turn: for tests that look at what a run is given, not at
    what it learns."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return Dataset(images, np.arange(n) % num_classes, ["c%d" % c for c in range(num_classes)],
                   np.full((size, size, 3), 127.5, np.float32), "noise", "train")


def spec2(num_classes=2):
    """Two convs and one hidden fc on 16x16 inputs: learns ``bars`` in under 100 steps from
    any seed (the thin five-conv ``spec5`` does not, reliably)."""
    pool = {"k": 3, "stride": 2}
    layers = [
        ["conv1", "conv", dict(c_out=8, k=3, stride=1, pad=1)], ["relu1", "relu", {}],
        ["pool1", "pool", pool],
        ["conv2", "conv", dict(c_out=12, k=3, stride=1, pad=1)], ["relu2", "relu", {}],
        ["pool2", "pool", pool],
        ["flatten", "flatten", {}], ["fc3", "linear", dict(d_out=24)], ["relu3", "relu", {}],
        ["fc4", "linear", {}],
    ]
    return dict(arch="tiny2", input=[3, 16, 16], num_classes=num_classes, init_std="he",
                input_scale=1 / 64, layers=layers)
