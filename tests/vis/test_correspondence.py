"""The sign-change measure Delta on hand-computed and constructed examples (Z&F Table 1)."""
import numpy as np

from tests.vis.plusnet import make_plus_net
from zfcore.vis.correspondence import (PARTS, correspondence_table, delta, features, mask_boxes,
                                       part_boxes, sign_hamming_sum)


def test_sign_hamming_sum_by_hand():
    eps = np.array([[1.0, -2.0, 0.0], [3.0, 1.0, 0.0], [-1.0, -1.0, 0.0]])
    # H(0,1) = 1, H(0,2) = 1, H(1,2) = 2; summed over ordered pairs i != j
    assert sign_hamming_sum(eps) == 8.0
    assert sign_hamming_sum(np.zeros((4, 5))) == 0.0
    assert sign_hamming_sum(eps, tol=1.5) == sign_hamming_sum(np.array([[0, -2, 0], [3, 0, 0],
                                                                        [0, 0, 0.0]]))


def test_part_boxes_are_quadrants():
    boxes = np.array([[2, 4, 10, 12]])
    assert part_boxes(boxes, "top-left", (16, 16)).tolist() == [[2, 4, 6, 8]]
    assert part_boxes(boxes, "bottom-right", (16, 16)).tolist() == [[6, 8, 10, 12]]
    x = np.ones((1, 3, 16, 16), dtype=np.float32)
    xm = mask_boxes(x, part_boxes(boxes, "top-right", (16, 16)), fill=0.0)
    assert xm.sum() == 3 * (256 - 16) and xm[0, :, 2:6, 8:12].sum() == 0


def correlated_group(seed=2):
    """A net with random conv filters and one "class": the same smooth object in every image,
    plus a little noise, with its box."""
    net = make_plus_net(seed=seed)
    rng = np.random.default_rng(0)
    for name in ("conv1.W", "conv2.W"):
        net.params()[name][:] = rng.standard_normal(net.params()[name].shape).astype(np.float32)
    yy, xx = np.mgrid[:16, :16]
    base = np.stack([np.sin(yy / 2.0), np.cos(xx / 3.0),
                     np.sin((yy + xx) / 4.0)]).astype(np.float32)
    x = base[None] + 0.05 * rng.standard_normal((8, 3, 16, 16)).astype(np.float32)
    return net, x, np.tile([2, 2, 14, 14], (8, 1)), base


def consistent_beats_random(table, layers):
    """Table 1's finding: masking the same part changes signs less than masking at random."""
    return all(table[part][layer][0] < 0.5 * table["random"][layer][0]
               for layer in layers for part in PARTS)


def test_consistent_masks_change_signs_less_than_random_ones():
    net, x, boxes, base = correlated_group()
    table = correspondence_table(net, [(x, boxes)], layers=["relu1", "pool2"], n_random=4, seed=1)
    assert consistent_beats_random(table, ["relu1", "pool2"]), table
    # masking the same pixels of identical images: every eps is the same, Delta is exactly 0
    same = np.repeat(base[None], 4, axis=0)
    d = delta(net, same, mask_boxes(same, np.tile([3, 3, 8, 8], (4, 1))), ["relu1", "fc3"])
    assert d == {"relu1": 0.0, "fc3": 0.0}


def test_a_net_that_ignores_the_masks_shows_no_correspondence():
    """input_scale 0: every image, masked or not, reaches the layers as zeros. Nothing changes
    sign, so the finding above must not hold."""
    net, x, boxes, _ = correlated_group()
    net.input_scale = 0.0
    table = correspondence_table(net, [(x, boxes)], layers=["relu1", "pool2"], n_random=4, seed=1)
    assert all(v[0] == 0.0 for row in table.values() for v in row.values())
    assert not consistent_beats_random(table, ["relu1", "pool2"])


def test_rounding_noise_is_not_counted():
    """Features the mask cannot reach may differ by rounding when batches differ: Delta must
    not see it. A mask over two pixels in the corner: the same Delta in batches of 1, 3 or 8
    (also against originals batched otherwise), and a change of exactly 0 where it cannot
    reach."""
    net, x, _, _ = correlated_group()
    xm = mask_boxes(x, np.tile([0, 0, 1, 2], (8, 1)))
    ref = features(net, x, ["relu1", "pool2", "fc3"], chunk=3)
    for chunk in (1, 8):
        d = delta(net, x, xm, ["relu1", "pool2", "fc3"], chunk=chunk,
                  ref=features(net, x, ["relu1", "pool2", "fc3"], chunk=chunk))
        assert d == delta(net, x, xm, ["relu1", "pool2", "fc3"], chunk=3, ref=ref)
        assert d == delta(net, x, xm, ["relu1", "pool2", "fc3"], chunk=chunk, ref=ref)
    # relu1 maps 4 x 16 x 16: the mask (rows 0, columns 0-1) reaches only rows 0-1, columns 0-2
    f, fm = features(net, x, ["relu1"])["relu1"], features(net, xm, ["relu1"])["relu1"]
    far = (f - fm).reshape(8, 4, 16, 16)[:, :, 2:, :]
    assert np.count_nonzero(far) == 0
