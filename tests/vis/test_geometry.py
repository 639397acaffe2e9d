"""Receptive fields against hand-worked geometry, and the boxes used for patches."""
import numpy as np

from tests.vis.plusnet import make_plus_net
from zfcore.models import build, spec_of
from zfcore.vis.geometry import (RF, conv_blocks, penultimate_layer, receptive_fields, rf_boxes,
                                 top_conv_layer)


def test_plus_net_receptive_fields_by_hand():
    rf = receptive_fields(make_plus_net())
    # conv 3x3 pad 1: start -1, size 3; pool 3/2 adds 2*1 -> 5, jump 2; conv 3x3 pad 1 at jump 2:
    # start -1 - 2 = -3, size 5 + 2*2 = 9; pool 3/2 at jump 2: size 9 + 2*2 = 13, jump 4.
    assert rf["relu1"] == RF(-1, 1, 3)
    assert rf["pool1"] == RF(-1, 2, 5)
    assert rf["relu2"] == RF(-3, 2, 9)
    assert rf["pool2"] == RF(-3, 4, 13)
    assert rf["fc3"].size is None


def test_zfnet_layer1_and_2_receptive_fields():
    spec = spec_of("zfnet", 10)
    spec["layers"] = spec["layers"][:5] + [["flatten", "flatten", {}], ["fc", "linear", {}]]
    rf = receptive_fields(build(spec))
    # Z&F Fig. 3: 7x7/2 pad 1; pool 3/2; 5x5/2.
    assert rf["conv1"] == RF(-1, 2, 7)
    assert rf["pool1"] == RF(-1, 4, 11)
    assert rf["conv2"] == RF(-1, 8, 27)


def test_boxes_inside_shifted_and_whole_image():
    rf = RF(-1, 2, 5)
    b = rf_boxes(rf, [3, 0, 7], [2, 0, 7], (16, 16))
    assert b[0].tolist() == [5, 3, 10, 8]          # inside: exactly the field
    assert b[1].tolist() == [0, 0, 5, 5]           # crosses the top-left border: shifted in
    assert b[2].tolist() == [11, 11, 16, 16]       # crosses the bottom-right border: shifted in
    big = rf_boxes(RF(-3, 4, 40), [1], [1], (16, 16))
    assert big[0].tolist() == [0, 0, 16, 16]


def test_default_layers_of_zfnet():
    net = build(spec_of("zfnet_small", 10))
    assert conv_blocks(net) == ["relu1", "relu2", "relu3", "relu4", "relu5"]
    assert top_conv_layer(net) == "pool5"
    assert penultimate_layer(net) == "relu7"
    assert np.all([n in net.layers for n in conv_blocks(net)])
