"""Every analysis sees the net that was trained, input scale included.

A net with ``input_scale = s`` and conv1's filters W computes the same function as its folded
twin with filters ``s * W`` and ``input_scale = 1`` (conv1 is linear in x and in W, and the bias
is the same). So every analysis must give the same result on both. An analysis that walks the
layers itself and skips the scale sees conv1 inputs 1/s times too large on the scaled net: this
is the identity that catches it.
"""
import numpy as np
import pytest

from tests.vis.plusnet import make_plus_net, noise_images, plant
from zfcore.vis.correspondence import correspondence_table
from zfcore.vis.evolution import EvolutionRecorder
from zfcore.vis.filters import layer2_projections
from zfcore.vis.invariance import invariance_curves
from zfcore.vis.occlude import occlusion
from zfcore.vis.probe import Inputs
from zfcore.vis.scores import occlusion_hits, projection_in_mask
from zfcore.vis.topk import project_top, top_activations

S = 1 / 64.0      # the default small nets' scale
TOL = dict(rtol=2e-4, atol=2e-5)


def scaled_and_folded(seed=0, random_convs=False):
    """(scaled, folded): the scaled net has input_scale S and conv1 filters W / S, so that it
    computes exactly the function of the folded net (filters W, scale 1) up to rounding."""
    folded = make_plus_net(seed)
    if random_convs:
        rng = np.random.default_rng(seed)
        for name in ("conv1.W", "conv2.W"):
            p = folded.params()[name]
            p[:] = rng.standard_normal(p.shape).astype(np.float32)
    scaled = make_plus_net(seed)
    for key, a in folded.params().items():
        scaled.params()[key][...] = a
    scaled.params()["conv1.W"][...] = folded.params()["conv1.W"] / np.float32(S)
    scaled.input_scale = S
    return scaled, folded


def images(n=12, seed=4):
    x = noise_images(n, seed=seed)
    rng = np.random.default_rng(seed)
    centres = [(int(rng.integers(2, 14)), int(rng.integers(2, 14))) for _ in range(n)]
    for k, (i, j) in enumerate(centres):
        plant(x[k], i, j, 0.9 + 0.05 * k)
    return x, centres


def test_the_twins_compute_the_same_function_and_differ_without_the_scale():
    scaled, folded = scaled_and_folded()
    x, _ = images()
    np.testing.assert_allclose(scaled.forward(x), folded.forward(x), **TOL)
    # the scale matters: without it the scaled net's conv1 sees 64x its input
    scaled.input_scale = 1.0
    assert not np.allclose(scaled.forward(x), folded.forward(x), rtol=0.1)


def test_top_activations_and_their_projections():
    scaled, folded = scaled_and_folded()
    x, _ = images()
    tops = [top_activations(net, Inputs(x), ["relu1", "pool2"], k=3, batch_size=5)
            for net in (scaled, folded)]
    for name in ("relu1", "pool2"):
        a, b = tops[0][name], tops[1][name]
        assert a.image.tolist() == b.image.tolist() and a.i.tolist() == b.i.tolist()
        np.testing.assert_allclose(a.values, b.values, **TOL)
        pa = project_top(scaled, Inputs(x), a, [0, 1])
        pb = project_top(folded, Inputs(x), b, [0, 1])
        np.testing.assert_allclose(pa[0], pb[0], **TOL)


@pytest.mark.parametrize("mode", ["deconv", "backprop", "guided"])
def test_projections(mode):
    scaled, folded = scaled_and_folded()
    x, _ = images(4)
    for layer in ("relu1", "pool2", "fc3"):
        ra = scaled.project(x, layer, [0, 1], mode=mode)
        rb = folded.project(x, layer, [0, 1], mode=mode)
        np.testing.assert_allclose(ra, rb, rtol=2e-4, atol=2e-5 * np.abs(rb).max())
    ra = scaled.project_units(x, "relu2", [0, 1, 2, 3], [1, 2, 3, 0], [0, 1, 2, 3], mode=mode)
    rb = folded.project_units(x, "relu2", [0, 1, 2, 3], [1, 2, 3, 0], [0, 1, 2, 3], mode=mode)
    np.testing.assert_allclose(ra, rb, rtol=2e-4, atol=2e-5 * max(np.abs(rb).max(), 1e-30))


def test_occlusion():
    scaled, folded = scaled_and_folded()
    x, _ = images(3)
    for k in range(3):
        a = occlusion(scaled, x[k], 0, size=3, stride=2, layer="pool2")
        b = occlusion(folded, x[k], 0, size=3, stride=2, layer="pool2")
        assert a["channel"] == b["channel"]
        np.testing.assert_array_equal(a["top_class"], b["top_class"])
        for key in ("prob", "logp", "activation"):
            np.testing.assert_allclose(a[key], b[key], **TOL)


@pytest.mark.parametrize("kind", ["translate", "scale", "rotate"])
def test_invariance(kind):
    scaled, folded = scaled_and_folded()
    x, _ = images(2)
    a = invariance_curves(scaled, x[1], 0, kind, layers=["relu1", "relu2"])
    b = invariance_curves(folded, x[1], 0, kind, layers=["relu1", "relu2"])
    for name in ("relu1", "relu2"):
        np.testing.assert_allclose(a["distance"][name], b["distance"][name], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(a["prob"], b["prob"], **TOL)


def test_correspondence():
    scaled, folded = scaled_and_folded(seed=2, random_convs=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:16, :16]
    base = np.stack([np.sin(yy / 2.0), np.cos(xx / 3.0), np.sin((yy + xx) / 4.0)])
    x = (base[None] + 0.05 * rng.standard_normal((6, 3, 16, 16))).astype(np.float32)
    groups = [(x, np.tile([2, 2, 14, 14], (6, 1)))]
    a = correspondence_table(scaled, groups, layers=["relu1", "pool2"], n_random=2, seed=1)
    b = correspondence_table(folded, groups, layers=["relu1", "pool2"], n_random=2, seed=1)
    for row in a:
        for name in ("relu1", "pool2"):
            np.testing.assert_allclose(a[row][name], b[row][name], atol=2e-3, err_msg=row)


def test_evolution_frames(tmp_path):
    scaled, folded = scaled_and_folded()
    x, _ = images(8)
    frames = [EvolutionRecorder(net, x, str(tmp_path / name), layers=["relu1", "pool2"],
                                n_maps=3).record(1, draw=False)
              for name, net in (("scaled", scaled), ("folded", folded))]
    for name in ("relu1", "pool2"):
        np.testing.assert_allclose(frames[0][name], frames[1][name], atol=1e-4)


def test_layer2_projections():
    scaled, folded = scaled_and_folded()
    x, _ = images(8)
    ra, ma = layer2_projections(scaled, Inputs(x), layer="relu2", n_maps=3)
    rb, mb = layer2_projections(folded, Inputs(x), layer="relu2", n_maps=3)
    assert ma.tolist() == mb.tolist()
    np.testing.assert_allclose(ra, rb, rtol=2e-4, atol=2e-5 * np.abs(rb).max())


def test_ground_truth_scores():
    scaled, folded = scaled_and_folded()
    x, centres = images(4)
    boxes = np.array([[i - 1, j - 1, i + 2, j + 2] for i, j in centres])
    masks = np.zeros((4, 16, 16), dtype=bool)
    for k, (y0, x0, y1, x1) in enumerate(boxes):
        masks[k, y0:y1, x0:x1] = True
    labels = np.zeros(4, dtype=int)
    a = occlusion_hits(scaled, x, labels, boxes, size=3, stride=1, layer="pool2")
    b = occlusion_hits(folded, x, labels, boxes, size=3, stride=1, layer="pool2")
    assert a["hit_rate"] == b["hit_rate"] and a["hit_rate"] > a["chance"]
    a = projection_in_mask(scaled, x, masks, layer="pool2")
    b = projection_in_mask(folded, x, masks, layer="pool2")
    np.testing.assert_allclose(a["shares"], b["shares"], rtol=1e-4)
    assert a["share"] > a["chance"]
