"""Architectures as data: Z&F Fig. 3 (zfnet), the single-GPU AlexNet and the small variants;
layer names, shapes (from ``net.shapes()`` and from an actual forward), parameters and init."""
import numpy as np
import pytest

from zfcore import models
from zfcore.net import Net

NAMES = ["conv1", "relu1", "pool1", "norm1", "conv2", "relu2", "pool2", "norm2", "conv3", "relu3",
         "conv4", "relu4", "conv5", "relu5", "pool5", "flatten", "fc6", "relu6", "drop6", "fc7",
         "relu7", "drop7", "fc8"]
PARAM_KEYS = {"%s.%s" % (name, k) for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6",
                                               "fc7", "fc8") for k in ("W", "b")}


def fig3_shapes(c):
    """Z&F Fig. 3, layer by layer, for a 3x224x224 input."""
    return [("conv1", (96, 110, 110)), ("relu1", (96, 110, 110)), ("pool1", (96, 55, 55)),
            ("norm1", (96, 55, 55)), ("conv2", (256, 26, 26)), ("relu2", (256, 26, 26)),
            ("pool2", (256, 13, 13)), ("norm2", (256, 13, 13)), ("conv3", (384, 13, 13)),
            ("relu3", (384, 13, 13)), ("conv4", (384, 13, 13)), ("relu4", (384, 13, 13)),
            ("conv5", (256, 13, 13)), ("relu5", (256, 13, 13)), ("pool5", (256, 6, 6)),
            ("flatten", (9216,)), ("fc6", (4096,)), ("relu6", (4096,)), ("drop6", (4096,)),
            ("fc7", (4096,)), ("relu7", (4096,)), ("drop7", (4096,)), ("fc8", (c,))]


@pytest.fixture(scope="module")
def zf():
    return models.zfnet(num_classes=17, seed=0)


def test_zfnet_layer_names_and_fig3_shapes(zf):
    assert list(zf.layers) == NAMES
    assert zf.input_shape == (3, 224, 224)
    assert zf.shapes() == fig3_shapes(17)


def test_zfnet_actual_forward_of_one_224_image_has_fig3_shapes(zf):
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    seen, a = [], x
    for name, layer in zf.layers.items():
        a = layer.forward(a)
        seen.append((name, a.shape[1:]))
        assert a.dtype == np.float32, name
    assert seen == fig3_shapes(17)
    np.testing.assert_array_equal(zf.forward(x), a)
    assert zf.forward(x, until="pool5").shape == (1, 256, 6, 6)


def test_zfnet_layer_geometry(zf):
    layers = zf.layers
    conv = {name: (layers[name].k, layers[name].stride, layers[name].pad, layers[name].c_out)
            for name in ("conv1", "conv2", "conv3", "conv4", "conv5")}
    assert conv == {"conv1": (7, 2, 1, 96), "conv2": (5, 2, 0, 256), "conv3": (3, 1, 1, 384),
                    "conv4": (3, 1, 1, 384), "conv5": (3, 1, 1, 256)}
    for name in ("pool1", "pool2", "pool5"):
        pool = zf.layers[name]
        assert (pool.k, pool.stride, pool.ceil_mode) == (3, 2, True)
    for name in ("norm1", "norm2"):
        norm = zf.layers[name]
        assert (norm.size, norm.alpha, norm.beta, norm.k) == (5, 1e-4, 0.75, 2.0)
    assert zf.layers["drop6"].p == 0.5 and zf.layers["drop7"].p == 0.5


def test_zfnet_params_keys_shapes_and_init(zf):
    params = zf.params()
    assert set(params) == PARAM_KEYS
    assert params["conv1.W"].shape == (96, 3, 7, 7)
    assert params["conv2.W"].shape == (256, 96, 5, 5)
    assert params["fc6.W"].shape == (4096, 9216)
    assert params["fc8.W"].shape == (17, 4096) and params["fc8.b"].shape == (17,)
    for key, a in params.items():
        assert a.dtype == np.float32, key
        if key.endswith(".b"):
            assert np.all(a == 0), key
        else:
            # N(0, 1e-2): the sample std within 5%, the mean within 5 standard errors.
            assert abs(a.std() - 1e-2) < 5e-4, (key, a.std())
            assert abs(a.mean()) < 5 * 1e-2 / np.sqrt(a.size), (key, a.mean())


def test_alexnet_names_and_shapes():
    net = models.alexnet(num_classes=1000)
    assert list(net.layers) == NAMES
    shapes = dict(net.shapes())
    # conv1 96@11x11/4 pad 2: (224 + 4 - 11) // 4 + 1 = 55; pool 55 -> 27; conv2 5x5/1 pad 2 keeps
    # 27; pool -> 13; then as zfnet.
    assert shapes["conv1"] == (96, 55, 55)
    assert shapes["pool1"] == (96, 27, 27)
    assert shapes["conv2"] == (256, 27, 27)
    assert shapes["pool2"] == (256, 13, 13)
    for name in ("conv3", "conv4"):
        assert shapes[name] == (384, 13, 13)
    assert shapes["conv5"] == (256, 13, 13)
    assert shapes["pool5"] == (256, 6, 6)
    assert shapes["flatten"] == (9216,) and shapes["fc6"] == (4096,) and shapes["fc7"] == (4096,)
    assert shapes["fc8"] == (1000,)
    c1 = net.layers["conv1"]
    assert (c1.k, c1.stride, c1.pad) == (11, 4, 2)
    assert set(net.params()) == PARAM_KEYS


@pytest.mark.parametrize("make,size", [(models.zfnet_small, 64), (models.zfnet_small, 32),
                                       (models.alexnet_small, 64), (models.alexnet_small, 32)])
def test_small_variants_shapes_agree_with_an_actual_forward(make, size):
    net = make(num_classes=10, size=size, seed=0)
    assert list(net.layers) == NAMES
    assert net.input_shape == (3, size, size)
    x = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
    a, seen = x, []
    for name, layer in net.layers.items():
        a = layer.forward(a)
        seen.append((name, a.shape[1:]))
    assert seen == net.shapes()
    assert a.shape == (2, 10)
    # ZF (conv1 /2 at 64, /1 at 32; conv2 /1) reaches 8x8 at conv3; AlexNet (conv1 /4 or /2) 4x4
    assert dict(seen)["conv3"][1:] == ((8, 8) if make is models.zfnet_small else (4, 4))
    assert set(net.params()) == PARAM_KEYS


def test_same_seed_same_weights_different_seed_different():
    a = models.zfnet_small(num_classes=10, size=32, seed=3).params()
    b = models.zfnet_small(num_classes=10, size=32, seed=3).params()
    c = models.zfnet_small(num_classes=10, size=32, seed=4).params()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
        if key.endswith(".W"):
            assert not np.array_equal(a[key], c[key]), key
    # Dropout layers are seeded from the same seed: the same masks.
    na = models.zfnet_small(num_classes=10, size=32, seed=3)
    nb = models.zfnet_small(num_classes=10, size=32, seed=3)
    x = np.ones((2, 256), dtype=np.float32)
    np.testing.assert_array_equal(na.layers["drop6"].forward(x, train=True),
                                  nb.layers["drop6"].forward(x, train=True))
    assert not np.array_equal(na.layers["drop6"].forward(x, train=True),
                              na.layers["drop7"].forward(x, train=True))


def test_he_init_and_custom_std():
    net = models.zfnet_small(num_classes=10, size=32, init_std="he")
    for name in ("conv1", "conv2", "fc6"):
        layer = net.layers[name]
        fan_in = layer.params["W"][0].size
        want = np.sqrt(2.0 / fan_in)
        assert abs(layer.params["W"].std() - want) < 0.1 * want
    net = models.zfnet_small(num_classes=10, size=32, init_std=0.05)
    assert abs(net.params()["fc6.W"].std() - 0.05) < 2e-3


def test_spec_is_plain_data_and_rebuilds_the_same_net():
    spec = models.spec_of("zfnet_small32", num_classes=7, input_channels=1)
    assert spec["num_classes"] == 7 and tuple(spec["input"]) == (1, 32, 32)
    assert spec["arch"] == "zfnet_small32"
    net1, net2 = models.build(spec, seed=5), models.build(spec, seed=5)
    assert isinstance(net1, Net) and net1.spec == spec
    assert net1.params()["conv1.W"].shape[1] == 1
    assert net1.params()["fc8.W"].shape[0] == 7
    for key, a in net1.params().items():
        np.testing.assert_array_equal(a, net2.params()[key])
    assert spec == models.spec_of("zfnet_small32", num_classes=7, input_channels=1)  # not mutated


def test_bad_arch_and_bad_kind_are_rejected():
    with pytest.raises(ValueError, match="nosuchnet"):
        models.spec_of("nosuchnet")
    spec = dict(input=(1, 4, 4), num_classes=2,
                layers=[["x", "wobble", {}], ["flatten", "flatten", {}], ["fc", "linear", {}]])
    with pytest.raises(ValueError, match="wobble"):
        models.build(spec)
