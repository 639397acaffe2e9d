"""Occlusion maps on a planted pattern: the contract's shapes, and the drop where the pattern is."""
import numpy as np
import pytest

from tests.vis.plusnet import make_plus_net, noise_images, plant
from zfcore.vis import occlusion
from zfcore.vis.occlude import occluder_fill
from zfcore.layers.loss import softmax


@pytest.mark.parametrize("size,stride", [(4, 2), (5, 3), (16, 1), (3, 5)])
def test_map_shapes_follow_the_contract(plus_net, size, stride):
    x = noise_images(1)[0]
    plant(x, 8, 8, 1.0)
    res = occlusion(plus_net, x, 0, size, stride, layer="pool2")
    hp = (16 - size) // stride + 1
    for key in ("prob", "top_class", "activation"):
        assert res[key].shape == (hp, hp)
    assert isinstance(res["channel"], int)


def test_occluding_the_pattern_drops_activation_and_probability(plus_net):
    x = noise_images(1, seed=4)[0]
    i, j = 10, 5
    plant(x, i, j, 1.2)
    res = occlusion(plus_net, x, 0, size=4, stride=1, layer="pool2", chunk=50)
    assert res["channel"] == 0                          # the plus map is the strongest
    act, prob = res["activation"], res["prob"]
    clean = float(plus_net.forward(x[None], until="pool2")[0, 0].sum())
    corner = np.arange(act.shape[0])
    rows, cols = np.meshgrid(corner, corner, indexing="ij")
    whole = (rows <= i - 1) & (i + 1 < rows + 4) & (cols <= j - 1) & (j + 1 < cols + 4)
    centre = (rows <= i) & (i < rows + 4) & (cols <= j) & (j < cols + 4)
    apart = (rows > i + 1) | (rows + 4 <= i - 1) | (cols > j + 1) | (cols + 4 <= j - 1)
    assert whole.sum() == 4 and apart.sum() > 100
    assert act[whole].max() == 0.0                     # the plus hidden: its map is silent
    np.testing.assert_allclose(act[apart], clean, rtol=1e-5)   # noise never fires the map
    a0, b0 = np.unravel_index(np.argmin(prob), prob.shape)
    assert centre[a0, b0]
    assert prob[whole].max() < prob[apart].min()
    assert np.all(res["top_class"][apart] == 0)


def test_each_position_equals_a_forward_pass_of_that_occluded_copy(plus_net):
    x = noise_images(1, seed=5)[0]
    plant(x, 1, 1, 1.0)
    res = occlusion(plus_net, x, 0, size=3, stride=13, fill=0.25, layer="pool2", chunk=3)
    assert res["prob"].shape == (2, 2)
    for a in range(2):
        for b in range(2):
            xo = x.copy()
            xo[:, 13 * a:13 * a + 3, 13 * b:13 * b + 3] = 0.25
            logits = plus_net.forward(xo[None])
            p = softmax(logits)[0]
            assert res["prob"][a, b] == pytest.approx(float(p[0]), rel=1e-5)
            z = logits[0].astype(np.float64)
            logp = z[0] - z.max() - np.log(np.exp(z - z.max()).sum())
            assert res["logp"][a, b] == pytest.approx(logp, rel=1e-5, abs=1e-6)
            assert res["top_class"][a, b] == int(np.argmax(p))
            pool2 = plus_net.forward(xo[None], until="pool2")
            assert res["activation"][a, b] == pytest.approx(float(pool2[0, 0].sum()), rel=1e-5)
    assert res["prob"][0, 0] < res["prob"][1, 1] - 0.1        # (0, 0) covers the plus


def test_an_image_mean_fill_paints_the_images_own_mean_colour():
    """fill='image': every occluded pixel takes the image's per-channel mean, so on a flat
    image the occluder changes nothing at all."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(occluder_fill(x, "image"), x.reshape(3, -1).mean(axis=1),
                               rtol=1e-6)
    np.testing.assert_array_equal(occluder_fill(x, 0.5), [0.5, 0.5, 0.5])
    net = make_plus_net()
    flat = np.broadcast_to(np.array([0.2, -0.1, 0.3], np.float32)[:, None, None],
                           (3, 16, 16)).copy()
    res = occlusion(net, flat, 0, size=4, stride=3, fill="image", layer="pool2")
    clean = net.forward(flat[None])
    p = np.exp(clean - clean.max()) / np.exp(clean - clean.max()).sum()
    np.testing.assert_allclose(res["prob"], p[0, 0], rtol=1e-5)
