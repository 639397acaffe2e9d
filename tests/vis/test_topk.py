"""Top-9 on planted patterns: the planted images come back in order of strength, at the planted
places, with the right patches; their projections sit on the pattern."""
import numpy as np

from tests.vis.plusnet import PLUS, noise_images, plant
from zfcore.vis.probe import Inputs
from zfcore.vis.render import normalise
from zfcore.vis.topk import RunningTopK, project_top, top_activations

# (image, centre i, centre j, brightness): responses 15*a - 6 at the centre, all distinct
PLANTED = [(3, 4, 6, 1.00), (8, 10, 3, 1.30), (11, 7, 7, 1.10), (17, 12, 12, 1.45),
           (20, 5, 11, 0.90), (22, 2, 2, 1.20), (25, 9, 13, 1.05), (27, 13, 5, 1.35),
           (31, 6, 9, 0.95), (33, 11, 8, 1.25), (36, 3, 13, 0.80)]


def planted_set():
    x = noise_images(40, seed=1, amp=0.01)   # moves a response by at most 15 * 0.01 < half a gap
    for img, i, j, a in PLANTED:
        plant(x[img], i, j, a)
    return x


def test_running_topk_merges_batches_and_keeps_earlier_on_ties():
    run = RunningTopK(channels=1, k=3)
    run.update(np.array([[1.0], [5.0], [2.0]]), np.array([[10], [11], [12]]), 0)
    run.update(np.array([[5.0], [7.0]]), np.array([[20], [21]]), 3)
    assert run.values[0].tolist() == [7.0, 5.0, 5.0]
    assert run.image[0].tolist() == [4, 1, 3]          # the tie at 5.0: image 1 before image 3
    assert run.pos[0].tolist() == [21, 11, 20]


def test_top9_finds_planted_images_in_order_of_strength(plus_net):
    x = planted_set()
    expected = sorted(PLANTED, key=lambda p: -p[3])[:9]
    for batch_size in (7, 40):                         # the same answer whatever the batching
        top = top_activations(plus_net, Inputs(x), ["relu1", "pool2"], k=9, batch_size=batch_size)
        t = top["relu1"]
        assert t.image[0].tolist() == [p[0] for p in expected]
        assert t.i[0].tolist() == [p[1] for p in expected]
        assert t.j[0].tolist() == [p[2] for p in expected]
        np.testing.assert_allclose(t.values[0], [15 * p[3] - 6 for p in expected], rtol=0,
                                   atol=0.151)
        assert np.all(np.diff(t.values[0]) < 0)
        assert top["pool2"].image[0].tolist() == [p[0] for p in expected]


def test_top9_patches_are_the_receptive_field_crops(plus_net):
    x = planted_set()
    inputs = Inputs(x)
    top = top_activations(plus_net, inputs, ["relu1"], k=9)["relu1"]
    proj, patches, boxes = project_top(plus_net, inputs, top, [0])
    rgb = inputs.rgb(np.arange(len(x)))
    for slot in range(9):
        img, i, j = top.image[0, slot], top.i[0, slot], top.j[0, slot]
        assert boxes[0, slot].tolist() == [i - 1, j - 1, i + 2, j + 2]     # 3x3 field, centred
        np.testing.assert_array_equal(patches[0, slot], rgb[img, i - 1:i + 2, j - 1:j + 2])
        # the projection of a plus detector's single unit is the plus itself (brightest at 1)
        np.testing.assert_allclose(proj[0, slot][..., 0], 0.5 + 0.5 * PLUS, atol=1e-6)


def test_projection_concentrates_on_the_pattern(plus_net):
    x = noise_images(2, seed=3)
    plant(x[0], 9, 5, 1.2)
    plant(x[1], 4, 11, 1.0)
    for layer in ("relu1", "pool1", "relu2", "pool2"):
        r = plus_net.project_units(x, layer, [0, 0])
        energy = (r ** 2).sum(axis=1)
        for k, (i, j) in enumerate([(9, 5), (4, 11)]):
            on = energy[k, i - 1:i + 2, j - 1:j + 2].sum()
            assert on > 0.999 * energy[k].sum(), layer
            assert np.argmax(energy[k]) // 16 in (i - 1, i, i + 1)


def test_project_units_batched_equals_one_image_at_a_time(plus_net):
    """Rows of one batch, each its own (image, map, position), against each projected alone."""
    x = planted_set()[:6]
    channels, i, j = [0, 1, 0, 2, 3, 0], [1, 2, 0, 3, 1, 2], [0, 3, 2, 1, 1, 2]
    ours = plus_net.project_units(x, "relu2", channels, i, j, chunk=4)
    for b in range(6):
        alone = plus_net.project(x[b:b + 1], "relu2", channels[b], position=(i[b], j[b]))
        np.testing.assert_allclose(ours[b], alone[0], rtol=1e-5, atol=1e-6)
    at_max = plus_net.project_units(x, "relu2", [0] * 6, "max")
    np.testing.assert_allclose(at_max, plus_net.project(x, "relu2", 0), rtol=1e-5, atol=1e-6)


def test_normalise_zero_is_grey_and_peak_reaches_the_end():
    r = np.zeros((2, 3, 4, 4), dtype=np.float32)
    r[0, 1, 2, 2] = -3.0
    r[0, 0, 0, 0] = 1.5
    out = normalise(r)
    assert out.shape == (2, 4, 4, 3)
    assert out[0, 2, 2, 1] == 0.0 and out[0, 0, 0, 0] == 0.75 and out[0, 3, 3, 2] == 0.5
    assert np.all(out[1] == 0.5)


def test_slots_without_a_positive_activation_stay_white(plus_net):
    x = noise_images(12, seed=4, amp=0.01)
    plant(x[5], 6, 6, 1.0)
    plant(x[9], 9, 4, 1.2)                        # map 0 fires in two images only
    inputs = Inputs(x)
    top = top_activations(plus_net, inputs, ["relu1"], k=9)["relu1"]
    proj, patches, _ = project_top(plus_net, inputs, top, [0])
    assert top.image[0, :2].tolist() == [9, 5] and np.all(top.values[0, 2:] == 0)
    assert np.all(proj[0, 2:] == 1.0) and np.all(patches[0, 2:] == 1.0)
    assert not np.all(patches[0, :2] == 1.0)
