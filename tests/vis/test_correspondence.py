"""The sign-change measure Delta on hand-computed and constructed examples (Z&F Table 1)."""
import numpy as np

from tests.vis.plusnet import make_plus_net
from zfcore.vis.correspondence import correspondence_table, delta, mask_boxes, part_boxes, sign_hamming_sum


def test_sign_hamming_sum_by_hand():
    eps = np.array([[1.0, -2.0, 0.0], [3.0, 1.0, 0.0], [-1.0, -1.0, 0.0]])
    # H(0,1) = 1, H(0,2) = 1, H(1,2) = 2; summed over ordered pairs i != j
    assert sign_hamming_sum(eps) == 8.0
    assert sign_hamming_sum(np.zeros((4, 5))) == 0.0


def test_part_boxes_are_quadrants():
    boxes = np.array([[2, 4, 10, 12]])
    assert part_boxes(boxes, "top-left", (16, 16)).tolist() == [[2, 4, 6, 8]]
    assert part_boxes(boxes, "bottom-right", (16, 16)).tolist() == [[6, 8, 10, 12]]
    x = np.ones((1, 3, 16, 16), dtype=np.float32)
    xm = mask_boxes(x, part_boxes(boxes, "top-right", (16, 16)), fill=0.0)
    assert xm.sum() == 3 * (256 - 16) and xm[0, :, 2:6, 8:12].sum() == 0


def test_consistent_masks_change_signs_less_than_random_ones():
    net = make_plus_net(seed=2)
    rng = np.random.default_rng(0)
    for name in ("conv1.W", "conv2.W"):
        net.params()[name][:] = rng.standard_normal(net.params()[name].shape).astype(np.float32)
    # one "class": the same smooth object in every image, plus a little noise
    yy, xx = np.mgrid[:16, :16]
    base = np.stack([np.sin(yy / 2.0), np.cos(xx / 3.0), np.sin((yy + xx) / 4.0)]).astype(np.float32)
    x = base[None] + 0.05 * rng.standard_normal((8, 3, 16, 16)).astype(np.float32)
    boxes = np.tile([2, 2, 14, 14], (8, 1))
    table = correspondence_table(net, [(x, boxes)], layers=["relu1", "pool2"], n_random=4, seed=1)
    for layer in ("relu1", "pool2"):
        rnd = table["random"][layer][0]
        for part in ("top-left", "top-right", "bottom-left", "bottom-right"):
            assert table[part][layer][0] < 0.5 * rnd, (part, layer, table)
    # masking the same pixels of identical images: every eps is the same, Delta is exactly 0
    same = np.repeat(base[None], 4, axis=0)
    d = delta(net, same, mask_boxes(same, np.tile([3, 3, 8, 8], (4, 1))), ["relu1", "fc3"])
    assert d == {"relu1": 0.0, "fc3": 0.0}
