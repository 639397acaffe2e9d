"""Ground-truth scores on planted patterns with known boxes and masks, and their chance levels."""
import numpy as np

from tests.vis.plusnet import noise_images, plant
from zfcore.vis.scores import occluder_centres, occlusion_hits, projection_in_mask

CENTRES = [(4, 4), (11, 6), (7, 12), (12, 12)]


def planted():
    x = noise_images(len(CENTRES), seed=9)
    boxes, masks = [], np.zeros((len(CENTRES), 16, 16), dtype=bool)
    for k, (i, j) in enumerate(CENTRES):
        plant(x[k], i, j, 1.2)
        boxes.append([i - 1, j - 1, i + 2, j + 2])
        masks[k, i - 1:i + 2, j - 1:j + 2] = True
    return x, np.array(boxes), masks


def test_occlusion_minimum_falls_in_the_box(plus_net):
    x, boxes, _ = planted()
    res = occlusion_hits(plus_net, x, np.zeros(4, int), boxes, size=3, stride=1, layer="pool2")
    assert res["hit_rate"] == 1.0 and res["n"] == 4
    # chance: the share of the 14x14 square centres (c + 1) inside each 3x3 box: 9 of 196
    assert abs(res["chance"] - 9 / 196) < 1e-12
    wrong = np.roll(boxes, 1, axis=0)
    assert occlusion_hits(plus_net, x, np.zeros(4, int), wrong, 3, 1,
                          layer="pool2")["hit_rate"] == 0.0


def test_a_blind_net_scores_exactly_chance(plus_net):
    x, boxes, _ = planted()
    plus_net.params()["fc3.W"][:] = 0.0               # the output no longer depends on the image
    res = occlusion_hits(plus_net, x, np.zeros(4, int), boxes, size=3, stride=1, layer="pool2")
    assert res["hit_rate"] == res["chance"] == 9 / 196


def test_occluder_centres():
    c = occluder_centres((16, 16), 4, 3)
    assert c.shape == (5, 5, 2)
    assert c[0, 0].tolist() == [1.5, 1.5] and c[4, 2].tolist() == [13.5, 7.5]


def test_projection_energy_lies_in_the_mask(plus_net):
    x, _, masks = planted()
    res = projection_in_mask(plus_net, x, masks)          # pool2, the top conv block
    assert res["n"] == 4
    np.testing.assert_allclose(res["shares"], 1.0, atol=1e-6)
    assert abs(res["chance"] - 9 / 256) < 1e-12
    shifted = np.roll(masks, 5, axis=2)
    assert projection_in_mask(plus_net, x, shifted)["share"] < 0.01
