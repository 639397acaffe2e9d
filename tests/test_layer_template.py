"""The one layer template: a spec's kinds map to registered classes that build themselves;
``build`` draws exactly what a direct construction draws; a new kind is one class (here, in this
file) and goes through ``Net`` (forward, backward, deconv) and checkpoints (its ``state``);
gradients handed out by ``net.grads()`` stay as they were when the next step runs."""
import h5py
import numpy as np
import pytest

from tests.gradcheck import check_grad
from zfcore import models
from zfcore.checkpoint import load_checkpoint, save_checkpoint
from zfcore.layers import (LRN, Conv2D, Dropout, Flatten, Layer, Linear, MaxPool2D, ReLU,
                           layer_class, naive, register)
from zfcore.optim import SGD


# -- a layer kind added by this file alone ------------------------------------------------------
def channel_scale_forward(x, g):
    """``y[n, c] = g[c] * x[n, c]``: x (N, C, H, W), g (C,)."""
    return x * g.reshape(1, -1, 1, 1)


def channel_scale_backward(dy, x, g):
    """dL/dx = ``dy * g[c]``; dL/dg[c] = ``sum_{n, h, w} dy * x``."""
    return dy * g.reshape(1, -1, 1, 1), (dy * x).sum(axis=(0, 2, 3))


@register("test_channel_scale")
class ChannelScale(Layer):
    """A per-channel gain ``g`` (C,) with a running mean of each channel's input in ``state``
    (updated at train time, as a batch norm's statistics are). deconv: ``r * g[c]``, the
    transpose of this diagonal map."""

    def __init__(self, c, momentum=0.5):
        super().__init__()
        self.momentum = momentum
        self.params = {"g": np.ones(c, dtype=np.float32)}
        self.state = {"running_mean": np.zeros(c, dtype=np.float32)}

    @classmethod
    def from_spec(cls, in_shape, args, init_std, rng):
        return cls(in_shape[0], **args)

    def forward(self, x, train=False):
        if train:
            m = self.momentum
            mean = x.mean(axis=(0, 2, 3)).astype(self.state["running_mean"].dtype)
            self.state["running_mean"] = (1 - m) * self.state["running_mean"] + m * mean
        self.cache = x
        return channel_scale_forward(x, self.params["g"])

    def backward(self, dy, need_dx=True):
        dx, self.grads["g"] = channel_scale_backward(dy, self.cache, self.params["g"])
        return dx

    def deconv(self, r):
        return channel_scale_forward(r, self.params["g"])


SPEC = dict(input=[2, 6, 6], num_classes=3, init_std=0.1, input_scale=1.0, layers=[
    ["conv1", "conv", dict(c_out=3, k=3, stride=1, pad=1)],
    ["scale1", "test_channel_scale", {}],
    ["relu1", "relu", {}],
    ["pool1", "pool", dict(k=2, stride=2)],
    ["flatten", "flatten", {}],
    ["fc", "linear", {}],
])


def test_every_kind_of_the_specs_is_a_registered_layer_class():
    expect = {"conv": Conv2D, "relu": ReLU, "pool": MaxPool2D, "lrn": LRN, "dropout": Dropout,
              "flatten": Flatten, "linear": Linear, "test_channel_scale": ChannelScale}
    for kind, cls in expect.items():
        assert layer_class(kind) is cls and cls.kind == kind and issubclass(cls, Layer)
    for spec in models.SPECS.values():
        assert {kind for _, kind, _ in spec["layers"]} <= set(expect)
    with pytest.raises(ValueError, match="wobble.*conv"):
        layer_class("wobble")
    with pytest.raises(ValueError, match="already"):
        register("conv")(ChannelScale)


def test_a_new_kind_builds_and_draws_nothing_from_the_shared_generator():
    net = models.build(SPEC, seed=4)
    assert isinstance(net.layers["scale1"], ChannelScale)
    assert net.layers["scale1"].params["g"].shape == (3,)
    # conv1.W is the first draw, fc.W (3 classes from 3 * 3 * 3 inputs) the second.
    rng = np.random.default_rng(4)
    W1 = (rng.standard_normal((3, 2, 3, 3)) * 0.1).astype(np.float32)
    Wfc = (rng.standard_normal((3, 27)) * 0.1).astype(np.float32)
    np.testing.assert_array_equal(net.params()["conv1.W"], W1)
    np.testing.assert_array_equal(net.params()["fc.W"], Wfc)


def _net64(seed=1):
    net = models.build(SPEC, seed=seed).astype(np.float64)
    net.set_param("scale1.g", np.array([0.5, -2.0, 1.5]))
    return net


def test_a_new_kind_goes_forward_and_backward_through_the_net():
    net = _net64()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 6, 6))
    w = rng.standard_normal((2, 3))

    def f():
        return np.vdot(net.forward(x), w)

    f()
    dx = net.backward(w.copy())
    inputs = dict(net.params(), x=x)
    grads = {k: np.array(v, copy=True) for k, v in net.grads().items()}
    grads["x"] = dx
    assert set(grads) == set(inputs) and "scale1.g" in grads
    check_grad(f, inputs, grads, context="conv-scale-relu-pool-fc net")


def test_a_new_kind_goes_down_the_deconvnet_through_the_net():
    net = _net64()
    x = np.random.default_rng(1).standard_normal((2, 2, 6, 6))
    W, b = net.params()["conv1.W"], net.params()["conv1.b"]
    g = net.params()["scale1.g"]
    got = net.project(x, "scale1", 1, position="all")
    # scale1's output is g[c] * conv(x); keep channel 1, send it down through the scale
    # (times g[1]) and the transposed convolution (Z&F Sec. 2.1).
    a = naive.conv(x, W, b, 1, 1) * g.reshape(1, -1, 1, 1)
    r = np.zeros_like(a)
    r[:, 1] = a[:, 1] * g[1]
    np.testing.assert_allclose(got, naive.conv_transpose(r, W, x.shape, 1, 1), rtol=1e-12,
                               atol=1e-12)


def test_a_new_kinds_state_survives_a_checkpoint(tmp_path):
    net = models.build(SPEC, seed=2)
    x = np.random.default_rng(3).standard_normal((4, 2, 6, 6)).astype(np.float32) + 1.0
    net.forward(x, train=True)
    net.forward(2 * x, train=True)
    running = net.layers["scale1"].state["running_mean"].copy()
    assert np.all(running != 0)
    save_checkpoint(str(tmp_path / "c.h5"), net, None, np.zeros((6, 6, 2), np.float32),
                    ["a", "b", "c"], {"epoch": 1})
    with h5py.File(tmp_path / "c.h5", "r") as f:
        np.testing.assert_array_equal(f["layer_state/scale1.running_mean"][()], running)
    assert np.all(models.build(SPEC, seed=2).layers["scale1"].state["running_mean"] == 0)
    ck = load_checkpoint(str(tmp_path / "c.h5"))
    got = ck.net.layers["scale1"].state["running_mean"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, running)


# -- build draws what a direct construction draws -----------------------------------------------
@pytest.mark.parametrize("init_std", [1e-2, "he"])
def test_build_draws_bit_for_bit_what_a_direct_construction_draws(init_std):
    seed, classes = 11, 7
    net = models.build(models.spec_of("zfnet_small32", classes, init_std=init_std), seed=seed)
    # zfnet_small32, by hand: 32x32 input; conv1 3x3/1 pad 1 keeps 32, pool -> 16, conv2 keeps
    # 16, pool -> 8, conv3-5 at 8, pool -> 4: 64 * 4 * 4 = 1024 into fc6. One Generator, in
    # the spec's order: the five conv weights, fc6, drop6's seed, fc7, drop7's seed, fc8.
    rng = np.random.default_rng(seed)

    def std(fan_in):
        return np.sqrt(2.0 / fan_in) if init_std == "he" else init_std

    def draw(shape, fan_in):
        return (rng.standard_normal(shape) * std(fan_in)).astype(np.float32)

    expect = {}
    for name, c_in, c_out in [("conv1", 3, 32), ("conv2", 32, 64), ("conv3", 64, 96),
                              ("conv4", 96, 96), ("conv5", 96, 64)]:
        expect[name] = draw((c_out, c_in, 3, 3), c_in * 9)
    expect["fc6"] = draw((256, 1024), 1024)
    drop6 = int(rng.integers(2 ** 31))
    expect["fc7"] = draw((256, 256), 256)
    drop7 = int(rng.integers(2 ** 31))
    expect["fc8"] = draw((classes, 256), 256)
    params = net.params()
    for name, W in expect.items():
        np.testing.assert_array_equal(params[name + ".W"], W, err_msg=name)
        assert not params[name + ".b"].any()
    for name, s in (("drop6", drop6), ("drop7", drop7)):
        assert net.layers[name].random_state() == np.random.default_rng(s).bit_generator.state


# -- gradients are not overwritten by the next step ---------------------------------------------
def test_grads_of_one_step_are_not_overwritten_by_the_next():
    net = models.zfnet_small(num_classes=5, size=32, seed=0)
    opt = SGD(net, lr=0.1)
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((3, 3, 32, 32)).astype(np.float32) * 50,
                rng.integers(0, 5, 3)) for _ in range(2)]
    x, labels = batches[0]
    net.loss(net.forward(x, train=True), labels)
    net.backward()
    first = net.grads()
    kept = {k: v.copy() for k, v in first.items()}
    opt.step()
    x, labels = batches[1]
    net.loss(net.forward(x, train=True), labels)
    net.backward()
    second = net.grads()
    for key in kept:
        np.testing.assert_array_equal(first[key], kept[key], err_msg=key)
        assert not np.array_equal(second[key], kept[key]), key


def test_astype_and_to_carry_the_state_buffers():
    net = models.build(SPEC, seed=2)
    net.forward(np.ones((2, 2, 6, 6), np.float32), train=True)
    running = net.layers["scale1"].state["running_mean"].copy()
    net.astype(np.float64).to("numpy")
    got = net.layers["scale1"].state["running_mean"]
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, running.astype(np.float64))
