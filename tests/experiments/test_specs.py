"""The variants of Table 3 really remove or resize the layers: the layer lists, the shapes that
flow through the built net, and parameter counts worked out by hand."""
import copy

import numpy as np

import pytest

from tests.experiments.tiny import spec5
from zfcore.experiments.specs import (VARIANTS, SpecError, param_count, remove_layers,
                                      weighted_layers)
from zfcore.models import build

# By hand, for spec5 (16x16 input; pools 3x3/2 ceil: 16 -> 8, 8 -> 4; 3x3 convs, pad 1):
# conv1 3*9*4+4 = 112, conv2 4*9*6+6 = 222, conv3 6*9*8+8 = 440, conv4 8*9*8+8 = 584,
# conv5 8*9*6+6 = 438; flatten 6*4*4 = 96; fc6 96*10+10 = 970, fc7 10*10+10 = 110,
# fc8 10*3+3 = 33.
CONVS = 112 + 222 + 440 + 584 + 438
HAND = {
    "base": CONVS + 970 + 110 + 33,
    "no-7": CONVS + 970 + 33,                         # fc8 still takes fc6's 10 units
    "no-6-7": CONVS + (96 * 3 + 3),                   # fc8 on the 96 flattened values
    "no-3-4": 112 + 222 + (6 * 9 * 6 + 6) + 970 + 110 + 33,   # conv5 on conv2's 6 maps
    "no-3-4-6-7": 112 + 222 + (6 * 9 * 6 + 6) + (96 * 3 + 3),
    "fc-x0.5": CONVS + (96 * 5 + 5) + (5 * 5 + 5) + (5 * 3 + 3),
    "fc-x2": CONVS + (96 * 20 + 20) + (20 * 20 + 20) + (20 * 3 + 3),
    # conv3-5 x4/3, x8/3, x2: 8 -> 11, 8 -> 21, 6 -> 12 maps; flatten 12*4*4 = 192
    "conv-wide": 112 + 222 + (6 * 9 * 11 + 11) + (11 * 9 * 21 + 21) + (21 * 9 * 12 + 12)
    + (192 * 10 + 10) + 110 + 33,
    "no-renorm": CONVS + 970 + 110 + 33,
}
LAYERS = {
    "no-7": ["conv1", "relu1", "pool1", "conv2", "relu2", "conv3", "relu3", "conv4", "relu4",
             "conv5", "relu5", "pool5", "flatten", "fc6", "relu6", "drop6", "fc8"],
    "no-3-4": ["conv1", "relu1", "pool1", "conv2", "relu2", "conv5", "relu5", "pool5",
               "flatten", "fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "fc8"],
    "no-3-4-6-7": ["conv1", "relu1", "pool1", "conv2", "relu2", "conv5", "relu5", "pool5",
                   "flatten", "fc8"],
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_parameter_count_matches_the_hand_count(name):
    spec = VARIANTS[name].spec(spec5())
    assert param_count(spec) == HAND[name]
    net = build(spec, seed=0)                # the net is built and runs on its input
    out = net.forward(np.zeros((2, 3, 16, 16), np.float32))
    assert out.shape == (2, 3)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_removed_blocks_leave_the_pools_and_the_rest(name):
    assert [entry[0] for entry in VARIANTS[name].spec(spec5())["layers"]] == LAYERS[name]


def test_shapes_flow_through_the_removed_and_resized_layers():
    p = build(VARIANTS["no-3-4"].spec(spec5()), seed=0).params()
    assert p["conv5.W"].shape == (6, 6, 3, 3)            # conv5 now reads conv2's 6 maps
    p = build(VARIANTS["no-6-7"].spec(spec5()), seed=0).params()
    assert p["fc8.W"].shape == (3, 96)
    p = build(VARIANTS["conv-wide"].spec(spec5()), seed=0).params()
    assert [p["conv%d.W" % i].shape[0] for i in (3, 4, 5)] == [11, 21, 12]
    assert p["fc6.W"].shape == (10, 192)
    p = build(VARIANTS["fc-x2"].spec(spec5()), seed=0).params()
    assert p["fc6.W"].shape == (20, 96) and p["fc7.W"].shape == (20, 20)


def test_the_base_spec_is_left_as_it_was_and_training_changes_are_data():
    base = spec5()
    before = copy.deepcopy(base)
    for v in VARIANTS.values():
        v.spec(base)
    assert base == before
    assert VARIANTS["no-renorm"].training == {"max_filter_rms": 0.0}
    assert VARIANTS["no-renorm"].spec(base)["layers"] == base["layers"]


def test_layer_numbers_follow_the_weighted_layers_whatever_their_names():
    spec = spec5()
    for i, entry in enumerate(spec["layers"]):
        entry[0] = "L%d" % i                 # rename every layer
    names = weighted_layers(spec)
    out = VARIANTS["no-7"].spec(spec)
    assert names[6] not in [e[0] for e in out["layers"]]
    assert param_count(out) == HAND["no-7"]


def test_a_layer_the_spec_does_not_have_is_one_clear_error():
    short = remove_layers(spec5(), (6, 7))
    with pytest.raises(SpecError, match="no hidden layer 7"):
        VARIANTS["no-7"].spec(short)
    with pytest.raises(SpecError, match="no hidden layer 8"):      # the softmax stays
        remove_layers(spec5(), (8,))
