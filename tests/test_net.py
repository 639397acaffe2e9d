"""The net: live params and grads, backward by finite differences, and ``project`` (Z&F Sec. 2.1)
against deconvnet / backprop / guided-backprop chains written here with naive loops."""
import numpy as np
import pytest

from tests import oracles
from tests.gradcheck import check_grad
from tests.readme import run_block
from zfcore import models
from zfcore.net import keep_activations

LRN_ARGS = dict(size=3, alpha=1.0, beta=0.75, k=1.0)    # k=1, alpha=1: LRN visibly matters
TAIL = [["flatten", "flatten", {}], ["fc", "linear", {}]]


def tiny_net(layers, input_shape=(3, 11, 11), num_classes=4, seed=0, init_std=0.5):
    """A float64 net from a spec (random non-zero biases, so that forgetting one shows)."""
    spec = dict(input=input_shape, num_classes=num_classes, init_std=init_std, layers=layers)
    net = models.build(spec, seed=seed).astype(np.float64)
    rng = np.random.default_rng(seed + 100)
    for key, a in net.params().items():
        if key.endswith(".b"):
            a[...] = 0.1 * rng.standard_normal(a.shape)
    return net


def images(n=2, shape=(3, 11, 11), seed=0):
    return np.random.default_rng(seed).standard_normal((n,) + shape)


def conv_args(net, name):
    lay = net.layers[name]
    return lay.params["W"], lay.params["b"], lay.stride, lay.pad


def keep(a, c, position):
    """Zero a (N, C, H, W) except, per image, channel c at ``position`` ('max', 'all', (i, j))."""
    r = np.zeros_like(a)
    for n in range(a.shape[0]):
        if position == "all":
            r[n, c] = a[n, c]
            continue
        i, j = oracles.first_argmax(a[n, c]) if position == "max" else position
        r[n, c, i, j] = a[n, c, i, j]
    return r


def relu_step(r, pre, mode):
    """The three ways down through a ReLU whose input was ``pre``."""
    if mode == "deconv":
        return np.maximum(r, 0)
    if mode == "backprop":
        return r * (pre > 0)
    return np.maximum(r, 0) * (pre > 0)


# -- params, grads, forward ---------------------------------------------------------------------
FD_LAYERS = [
    ["conv1", "conv", dict(c_out=4, k=3, stride=1, pad=1)], ["relu1", "relu", {}],
    ["pool1", "pool", dict(k=3, stride=2)], ["norm1", "lrn", LRN_ARGS],
    ["conv2", "conv", dict(c_out=5, k=3, stride=2, pad=1)], ["relu2", "relu", {}],
    ["pool2", "pool", dict(k=3, stride=2)],
    ["flatten", "flatten", {}], ["fc6", "linear", dict(d_out=6)], ["relu6", "relu", {}],
    ["drop6", "dropout", dict(p=0.5)], ["fc7", "linear", {}],
]


def test_params_grads_keys_and_params_are_live():
    net = tiny_net(FD_LAYERS)
    keys = {"%s.%s" % (n, k) for n in ("conv1", "conv2", "fc6", "fc7") for k in ("W", "b")}
    assert set(net.params()) == keys
    assert all(a.dtype == np.float64 for a in net.params().values())
    x = images()
    logits = net.forward(x)
    assert logits.shape == (2, 4) and logits.dtype == np.float64
    net.loss(logits, [0, 3])
    net.backward()
    grads = net.grads()
    assert set(grads) == keys
    for key, a in net.params().items():
        assert grads[key].shape == a.shape, key
    # Writing into the arrays params() returns changes the net.
    net.params()["fc7.b"][...] += 1.0
    np.testing.assert_allclose(net.forward(x), logits + 1.0, rtol=1e-12)
    net.params()["conv1.W"][...] *= 2.0
    assert not np.allclose(net.forward(x), logits + 1.0)
    # set_param replaces an array; params() then returns the new one.
    net.set_param("fc7.b", np.zeros(4))
    assert np.all(net.params()["fc7.b"] == 0)


def test_forward_until_and_unknown_layer():
    net = tiny_net(FD_LAYERS)
    x = images()
    a = x
    for name, layer in net.layers.items():
        a = layer.forward(a)
        np.testing.assert_array_equal(net.forward(x, until=name), a)
    with pytest.raises(KeyError, match="nope"):
        net.forward(x, until="nope")


def test_astype_and_to_numpy():
    net = models.build(dict(input=(3, 11, 11), num_classes=4, layers=FD_LAYERS), seed=0)
    assert all(a.dtype == np.float32 for a in net.params().values())
    net.astype(np.float64).to("numpy")
    assert all(a.dtype == np.float64 and isinstance(a, np.ndarray) for a in net.params().values())
    with pytest.raises(ValueError):
        net.to("abacus")


def test_net_backward_matches_finite_differences():
    net = tiny_net(FD_LAYERS)
    x, labels = images(), np.array([1, 3])
    drop = net.layers["drop6"]

    def loss():
        drop.rng = np.random.default_rng(42)     # the same dropout mask on every forward
        return net.loss(net.forward(x, train=True), labels)

    loss()
    assert drop.mask is not None and (drop.mask == 0).any()
    dx = net.backward()
    inputs = dict(net.params(), x=x)
    grads = dict(net.grads(), x=dx)
    check_grad(loss, inputs, {k: np.array(g, copy=True) for k, g in grads.items()}, directions=2)


def test_net_backward_full_coordinates_tiny():
    layers = [["conv1", "conv", dict(c_out=2, k=2, stride=1, pad=0)], ["relu1", "relu", {}],
              ["pool1", "pool", dict(k=3, stride=2)], ["norm1", "lrn", LRN_ARGS]] + TAIL
    net = tiny_net(layers, input_shape=(2, 4, 4), num_classes=3)
    x = images(1, (2, 4, 4), seed=3)
    net.loss(net.forward(x), [2])
    dx = net.backward()
    check_grad(lambda: net.loss(net.forward(x), [2]), {"x": x, "conv1.W": net.params()["conv1.W"]},
               {"x": dx, "conv1.W": net.grads()["conv1.W"].copy()}, full=True)


# -- keep_activations ---------------------------------------------------------------------------
def distinct(shape, seed):
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    return (rng.permutation(size) - size / 2 + 0.5).reshape(shape)    # distinct, none zero


def test_keep_activations_max_keeps_exactly_the_largest_one_per_row():
    a = distinct((3, 4, 3, 5), 0)
    channels = [2, 0, 2]
    r = keep_activations(a, channels, "max")
    assert r.shape == a.shape
    for b, c in enumerate(channels):
        assert np.count_nonzero(r[b]) == 1
        i, j = oracles.first_argmax(a[b, c])
        assert r[b, c, i, j] == a[b, c, i, j] == a[b, c].max()


def test_keep_activations_all_position_and_ties():
    a = distinct((2, 3, 4, 4), 1)
    r = keep_activations(a, [1, 2], "all")
    expect = np.zeros_like(a)
    expect[0, 1], expect[1, 2] = a[0, 1], a[1, 2]
    np.testing.assert_array_equal(r, expect)
    r = keep_activations(a, [1, 2], (3, 1))
    expect = np.zeros_like(a)
    expect[0, 1, 3, 1], expect[1, 2, 3, 1] = a[0, 1, 3, 1], a[1, 2, 3, 1]
    np.testing.assert_array_equal(r, expect)
    with pytest.raises(ValueError):
        keep_activations(a, [1, 2], (4, 0))
    flat = np.full((1, 1, 2, 3), 5.0)                           # a tie: the first in row-major
    r = keep_activations(flat, [0], "max")
    assert r[0, 0, 0, 0] == 5.0 and np.count_nonzero(r) == 1


def test_keep_activations_per_row_positions():
    a = distinct((2, 3, 4, 4), 3)
    r = keep_activations(a, [2, 0], (np.array([1, 3]), np.array([0, 2])))
    expect = np.zeros_like(a)
    expect[0, 2, 1, 0], expect[1, 0, 3, 2] = a[0, 2, 1, 0], a[1, 0, 3, 2]
    np.testing.assert_array_equal(r, expect)
    with pytest.raises(ValueError):
        keep_activations(a, [2, 0], (np.array([1, 4]), np.array([0, 2])))


def test_forward_keep_returns_the_named_outputs_of_one_pass():
    """keep=[...] gives each named layer's output as the layer-by-layer run computes it, with
    the input scale applied first."""
    net = models.zfnet_small(num_classes=5, size=32, seed=4)
    net.input_scale = 0.5
    x = np.random.default_rng(5).standard_normal((2, 3, 32, 32)).astype(np.float32)
    outs = net.forward(x, keep=["relu1", "pool5", "fc8"])
    assert list(outs) == ["relu1", "pool5", "fc8"]
    a = 0.5 * x
    for name, layer in net.layers.items():
        a = layer.forward(a)
        if name in outs:
            np.testing.assert_array_equal(outs[name], a, err_msg=name)
    with pytest.raises(KeyError):
        net.forward(x, keep=["relu1", "nope"])


def test_keep_activations_fully_connected_keeps_the_unit():
    a = distinct((3, 6), 2)
    r = keep_activations(a, [5, 0, 5], "max")
    expect = np.zeros_like(a)
    expect[0, 5], expect[1, 0], expect[2, 5] = a[0, 5], a[1, 0], a[2, 5]
    np.testing.assert_array_equal(r, expect)


# -- project: the deconvnet path ------------------------------------------------------------------
def test_project_max_keeps_one_activation_with_its_value():
    net = tiny_net([["conv1", "conv", dict(c_out=4, k=3, stride=2, pad=1)]] + TAIL)
    x = images()
    W, b, s, p = conv_args(net, "conv1")
    a = oracles.conv(x, W, b, s, p)
    for c in range(4):
        out = net.project(x, "conv1", c)
        assert out.shape == x.shape and out.dtype == np.float64
        # One kept activation: its filter, scaled by its value (not by 1), on its window only.
        expect = oracles.conv_transpose(keep(a, c, "max"), W, x.shape, s, p)
        np.testing.assert_allclose(out, expect, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("position", ["max", "all", (1, 2), (4, 4)])
def test_project_deconv_conv_relu_pool(position):
    net = tiny_net([["conv1", "conv", dict(c_out=3, k=3, stride=1, pad=1)], ["relu1", "relu", {}],
                    ["pool1", "pool", dict(k=3, stride=2)]] + TAIL, input_shape=(3, 10, 10))
    x = images(2, (3, 10, 10), seed=1)             # pool1 is 5x5, its last row of windows clipped
    W, b, s, p = conv_args(net, "conv1")
    z = np.maximum(oracles.conv(x, W, b, s, p), 0)
    pooled, sw = oracles.maxpool(z, 3, 2)
    for c in range(3):
        r = oracles.unpool(keep(pooled, c, position), sw, z.shape, 3, 2)
        expect = oracles.conv_transpose(np.maximum(r, 0), W, x.shape, s, p)
        got = net.project(x, "pool1", c, position=position, mode="deconv")
        np.testing.assert_allclose(got, expect, rtol=1e-12, atol=1e-12)


TWO_CONV = [["conv1", "conv", dict(c_out=3, k=3, stride=1, pad=1)], ["relu1", "relu", {}],
            ["pool1", "pool", dict(k=3, stride=2)], ["norm1", "lrn", LRN_ARGS],
            ["conv2", "conv", dict(c_out=4, k=3, stride=1, pad=0)], ["relu2", "relu", {}]] + TAIL


def chain(net, x, layer, c, position, mode):
    """conv1 relu1 pool1 norm1 conv2 relu2, forward and back down by hand."""
    W1, b1, s1, p1 = conv_args(net, "conv1")
    W2, b2, s2, p2 = conv_args(net, "conv2")
    a1 = oracles.conv(x, W1, b1, s1, p1)
    z1 = np.maximum(a1, 0)
    q, sw = oracles.maxpool(z1, 3, 2)
    n1 = oracles.lrn(q, **LRN_ARGS)
    a2 = oracles.conv(n1, W2, b2, s2, p2)
    if layer == "relu2":
        r = relu_step(keep(np.maximum(a2, 0), c, position), a2, mode)
    else:
        r = keep(a2, c, position)
    r = oracles.conv_transpose(r, W2, n1.shape, s2, p2)
    if mode != "deconv":                                        # deconv: LRN is the identity
        r = oracles.lrn_vjp(r, q, **LRN_ARGS)
    r = oracles.unpool(r, sw, z1.shape, 3, 2)
    r = relu_step(r, a1, mode)
    return oracles.conv_transpose(r, W1, x.shape, s1, p1)


@pytest.mark.parametrize("mode", ["deconv", "backprop", "guided"])
@pytest.mark.parametrize("position", ["max", "all"])
def test_project_matches_the_hand_built_chain(mode, position):
    net = tiny_net(TWO_CONV)
    x = images()
    for c in (0, 3):
        got = net.project(x, "relu2", c, position=position, mode=mode)
        np.testing.assert_allclose(got, chain(net, x, "relu2", c, position, mode),
                                   rtol=1e-10, atol=1e-12)


def test_the_three_modes_differ_and_rectification_matters():
    net = tiny_net(TWO_CONV)
    x = images()
    got = {m: net.project(x, "relu2", 1, position="all", mode=m)
           for m in ("deconv", "backprop", "guided")}
    assert not np.allclose(got["deconv"], got["backprop"])
    assert not np.allclose(got["guided"], got["backprop"])
    assert not np.allclose(got["guided"], got["deconv"])
    # Without relu1's rectification on the way down the deconvnet's answer would differ.
    W1, b1, s1, p1 = conv_args(net, "conv1")
    W2, b2, s2, p2 = conv_args(net, "conv2")
    z1 = np.maximum(oracles.conv(x, W1, b1, s1, p1), 0)
    q, sw = oracles.maxpool(z1, 3, 2)
    a2 = np.maximum(oracles.conv(oracles.lrn(q, **LRN_ARGS), W2, b2, s2, p2), 0)
    r = oracles.conv_transpose(keep(a2, 1, "all"), W2, q.shape, s2, p2)
    unrectified = oracles.conv_transpose(oracles.unpool(r, sw, z1.shape, 3, 2), W1, x.shape, s1, p1)
    assert not np.allclose(got["deconv"], unrectified)


def test_guided_equals_backprop_without_relus():
    layers = [["conv1", "conv", dict(c_out=3, k=3, stride=1, pad=1)],
              ["pool1", "pool", dict(k=3, stride=2)], ["norm1", "lrn", LRN_ARGS],
              ["conv2", "conv", dict(c_out=4, k=3, stride=1, pad=0)]] + TAIL
    net = tiny_net(layers)
    x = images()
    back = net.project(x, "conv2", 2, position="all", mode="backprop")
    np.testing.assert_array_equal(net.project(x, "conv2", 2, position="all", mode="guided"), back)
    # The deconvnet skips LRN's gradient: with k=1, alpha=1 that shows.
    assert not np.allclose(net.project(x, "conv2", 2, position="all", mode="deconv"), back)


# -- project: backprop is the activation times its true gradient -----------------------------------
@pytest.mark.parametrize("layer,position", [("conv2", "max"), ("conv2", (2, 1)), ("relu2", "max"),
                                            ("norm1", (1, 3))])
def test_project_backprop_is_activation_times_finite_difference_gradient(layer, position):
    net = tiny_net(TWO_CONV)
    x = images()
    c = 1
    proj = net.project(x, layer, c, position=position, mode="backprop")
    for n in range(x.shape[0]):
        xn = x[n:n + 1].copy()
        a = net.forward(xn, until=layer)[0, c]
        i, j = oracles.first_argmax(a) if position == "max" else position
        value = a[i, j]
        assert value != 0

        def f():
            return value * net.forward(xn, until=layer)[0, c, i, j]

        check_grad(f, {"x": xn}, {"x": proj[n:n + 1]}, context="image %d" % n,
                   full=(n == 0 and layer == "conv2"))


# -- project: channel lists, chunks, fully connected layers, errors --------------------------------
@pytest.mark.parametrize("mode", ["deconv", "backprop", "guided"])
def test_channel_list_is_the_stack_of_single_channel_calls(mode):
    net = tiny_net(TWO_CONV)
    x = images(3, seed=4)
    channels = [2, 0, 3, 2]
    out = net.project(x, "relu2", channels, mode=mode)
    assert out.shape == (3, 4, 3, 11, 11)
    single = np.stack([net.project(x, "relu2", c, mode=mode) for c in channels], axis=1)
    np.testing.assert_allclose(out, single, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(net.project(x, "relu2", channels, mode=mode, chunk=5), single,
                               rtol=1e-12, atol=1e-14)
    assert net.project(x, "relu2", [1], mode=mode).shape == (3, 1, 3, 11, 11)


def test_project_fully_connected_layers():
    layers = [["conv1", "conv", dict(c_out=3, k=3, stride=2, pad=1)], ["relu1", "relu", {}],
              ["flatten", "flatten", {}], ["fc6", "linear", dict(d_out=5)], ["relu6", "relu", {}],
              ["drop6", "dropout", dict(p=0.5)], ["fc7", "linear", {}]]
    net = tiny_net(layers, input_shape=(3, 7, 7), num_classes=4)
    x = images(2, (3, 7, 7), seed=5)
    W1, b1, s1, p1 = conv_args(net, "conv1")
    W6, b6 = net.params()["fc6.W"], net.params()["fc6.b"]
    W7, b7 = net.params()["fc7.W"], net.params()["fc7.b"]
    z1 = np.maximum(oracles.conv(x, W1, b1, s1, p1), 0)
    f = z1.reshape(2, -1)
    h6 = f @ W6.T + b6
    h7 = np.maximum(h6, 0) @ W7.T + b7

    def down_from_fc6(r6):
        r = (r6 @ W6).reshape(z1.shape)
        return oracles.conv_transpose(np.maximum(r, 0), W1, x.shape, s1, p1)

    for c in range(5):
        r6 = np.zeros_like(h6)
        r6[:, c] = h6[:, c]
        np.testing.assert_allclose(net.project(x, "fc6", c), down_from_fc6(r6), rtol=1e-12,
                                   atol=1e-13)
    r7 = np.zeros_like(h7)
    r7[:, 2] = h7[:, 2]
    expect = down_from_fc6(np.maximum(r7 @ W7, 0))        # drop6 identity, relu6 rectifies
    np.testing.assert_allclose(net.project(x, "fc7", 2), expect, rtol=1e-12, atol=1e-13)
    out = net.project(x, "fc7", [0, 2, 3])
    assert out.shape == (2, 3, 3, 7, 7)
    np.testing.assert_allclose(out[:, 1], expect, rtol=1e-12, atol=1e-13)


def test_project_errors():
    net = tiny_net(TWO_CONV)
    x = images(1)
    with pytest.raises(ValueError, match="mode"):
        net.project(x, "conv2", 0, mode="dream")
    with pytest.raises(KeyError):
        net.project(x, "conv9", 0)
    with pytest.raises(ValueError):
        net.project(x, "conv2", 0, position=(7, 0))            # conv2's map is 3x3


def test_project_on_a_small_zfnet():
    net = models.zfnet_small(num_classes=10, size=32, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    for mode in ("deconv", "backprop", "guided"):
        out = net.project(x, "conv5", [0, 7], mode=mode)
        assert out.shape == (2, 2, 3, 32, 32) and out.dtype == np.float32
        assert np.all(np.isfinite(out)) and np.any(out != 0)
    assert net.project(x, "fc8", 3).shape == (2, 3, 32, 32)


# -- input_scale: the net takes raw mean-subtracted pixels and scales them itself -----------------
def test_input_scale_scales_the_input_and_every_gradient_is_wrt_the_raw_pixels():
    net = tiny_net(TWO_CONV)
    plain = tiny_net(TWO_CONV)
    net.input_scale = 0.25
    x = images()
    np.testing.assert_allclose(net.forward(x, until="conv2"),
                               plain.forward(0.25 * x, until="conv2"))
    net.loss(net.forward(x), [0, 1])
    dx = net.backward()
    check_grad(lambda: net.loss(net.forward(x), [0, 1]), {"x": x}, {"x": dx})
    x1 = x[:1].copy()
    a = net.forward(x1, until="conv2")[0, 1]
    i, j = oracles.first_argmax(a)
    value = a[i, j]
    proj = net.project(x1, "conv2", 1, mode="backprop")
    check_grad(lambda: value * net.forward(x1, until="conv2")[0, 1, i, j], {"x": x1}, {"x": proj})


def test_backward_without_the_input_gradient_gives_the_same_weight_gradients():
    net = tiny_net(TWO_CONV)
    x = images()
    net.loss(net.forward(x), [0, 1])
    dx = net.backward()
    full = {k: g.copy() for k, g in net.grads().items()}
    net.loss(net.forward(x), [0, 1])
    assert dx is not None and net.backward(input_grad=False) is None
    for key, g in net.grads().items():
        np.testing.assert_array_equal(g, full[key], err_msg=key)


def test_backward_until_a_layer_gives_its_and_the_higher_grads_and_visits_nothing_below():
    """``until="conv2"``: conv2 and every layer above it get the full backward's grads, bit for
    bit; conv1 and the layers between are never called (frozen layers, Z&F Sec. 5.2)."""
    net = tiny_net(TWO_CONV)
    x = images()
    net.loss(net.forward(x), [0, 1])
    net.backward()
    full = {k: g.copy() for k, g in net.grads().items()}
    for name in ("conv1", "relu1", "pool1", "norm1"):
        net.layers[name].grads.clear()
        net.layers[name].backward = lambda *a, _n=name, **k: pytest.fail(_n + " was visited")
    net.loss(net.forward(x), [0, 1])
    assert net.backward(input_grad=False, until="conv2") is None
    got = net.grads()
    assert not any(k.startswith("conv1.") for k in got)
    higher = [k for k in full if not k.startswith("conv1.")]
    assert higher and set(got) == set(higher)
    for key in higher:
        np.testing.assert_array_equal(got[key], full[key], err_msg=key)
    with pytest.raises(KeyError, match="conv9"):
        net.backward(until="conv9")


def test_the_readme_net_example_runs_as_written():
    """The README's ZFNet example, exactly as written: what it prints is its comment, and an
    untrained net's loss is near ln(1000) (near-uniform softmax over 1000 classes)."""
    code, printed = run_block("import numpy as np\nfrom zfcore import models\n")
    printed = printed.strip()
    assert "# " + printed in code
    assert abs(float(printed.split()[0]) - np.log(1000)) < 0.1


def test_a_wrong_input_shape_is_one_clear_error_naming_the_layer():
    net = models.zfnet_small(num_classes=3, size=32, seed=0)
    with pytest.raises(ValueError) as e:
        net.forward(np.zeros((2, 3, 64, 64), np.float32))
    assert str(e.value) == "conv1: expected a batch of shape (N, 3, 32, 32), got (2, 3, 64, 64)"
    with pytest.raises(ValueError, match=r"conv1: expected .* got \(3, 32, 32\)"):
        net.forward(np.zeros((3, 32, 32), np.float32))       # one image, not a batch
    assert net.forward(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 3)


def test_a_conv_and_its_relu_in_one_pass_equal_the_two_layers_one_by_one():
    """Net fuses conv + ReLU (forward: the ReLU is applied where the bias is added; backward:
    its mask is applied in the copy of dy into the conv's rows); the outputs and the gradients
    must be those of the layers run one by one, and asking for the conv's own output must give
    it before rectification."""
    net = models.zfnet_small(5)
    x = np.random.default_rng(3).standard_normal((4, 3, 64, 64)).astype(np.float32)
    labels = np.array([0, 1, 2, 3])
    streams = {n: layer.random_state() for n, layer in net.layers.items()}  # dropout's masks
    fused = net.forward(x, train=True)
    net.loss(fused, labels)
    net.backward(input_grad=False)
    grads = {k: g.copy() for k, g in net.grads().items()}
    h = x * np.float32(net.input_scale)
    for name, layer in net.layers.items():
        if streams[name] is not None:
            layer.set_random_state(streams[name])           # the same masks again
    for layer in net.layers.values():                       # one by one, no fusion
        h = layer.forward(h, train=True)
    np.testing.assert_array_equal(h, fused)
    net.loss(h, labels)
    d = net.head.backward()
    for layer in reversed(list(net.layers.values())):       # one by one, no fusion
        d = layer.backward(d)
    for k, g in net.grads().items():
        np.testing.assert_array_equal(g, grads[k], err_msg=k)
    pre = net.forward(x, until="conv2")
    assert (pre < 0).any()                                  # the conv's output, not rectified
    assert np.array_equal(net.forward(x, keep=["conv2", "relu2"])["relu2"], np.maximum(pre, 0))
