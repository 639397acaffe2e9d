"""EvolutionRecorder: what it records per epoch, what it writes, and that it leaves the net
alone."""
import os

import numpy as np

from tests.vis.plusnet import PLUS, noise_images, plant
from zfcore.vis.evolution import EvolutionRecorder

BAR = np.array([[0, 0, 0], [1, 1, 1], [0, 0, 0]], dtype=np.float32)


def test_records_the_strongest_projection_per_epoch_and_saves_one_grid_per_layer(tmp_path,
                                                                                  plus_net):
    probe = noise_images(10, seed=7)
    plant(probe[3], 6, 6, 1.0)
    plant(probe[8], 10, 9, 1.4)
    rec = EvolutionRecorder(plus_net, probe, str(tmp_path), layers=["relu1", "pool2"], n_maps=4)
    assert [m.tolist() for m in rec.maps.values()] == [[0, 1, 2, 3], [0, 1, 2, 3]]
    before = {k: v.copy() for k, v in plus_net.params().items()}
    first = rec.record(1)
    for k, v in plus_net.params().items():
        np.testing.assert_array_equal(v, before[k])
    # relu1 map 0 at epoch 1: the plus, cropped to its 3x3 field, brightest at 1 and zero grey
    assert first["relu1"].shape == (4, 3, 3, 3)
    np.testing.assert_allclose(first["relu1"][0, ..., 1], 0.5 + 0.5 * PLUS, atol=1e-6)
    # "training" turns the plus detector into a bar detector
    plus_net.params()["conv1.W"][0] = BAR[None]
    plus_net.params()["conv1.b"][0] = -4.0
    second = rec.record(5)
    np.testing.assert_allclose(second["relu1"][0, ..., 1], 0.5 + 0.5 * BAR, atol=1e-6)
    assert rec.epochs == [1, 5]
    paths = rec.save()
    assert sorted(os.path.basename(p) for p in paths) == ["evolution_pool2.png",
                                                           "evolution_relu1.png"]
    for p in paths:
        assert os.path.getsize(p) > 1000
        assert os.path.dirname(p) == os.path.join(str(tmp_path), "figures")


def test_default_layers_and_map_choice_are_fixed_by_the_seed(tmp_path, plus_net):
    probe = noise_images(4)
    a = EvolutionRecorder(plus_net, probe, str(tmp_path), n_maps=2, seed=3)
    b = EvolutionRecorder(plus_net, probe, str(tmp_path), n_maps=2, seed=3)
    assert a.layers == ["relu1", "relu2"]
    assert all(np.array_equal(a.maps[k], b.maps[k]) for k in a.layers)
    assert a.save() == []                       # nothing recorded: nothing written


def test_history_is_written_each_epoch_and_a_resumed_recorder_continues_it(tmp_path, plus_net):
    probe = noise_images(6, seed=2)
    plant(probe[1], 5, 5, 1.0)
    out = str(tmp_path)
    first = EvolutionRecorder(plus_net, probe, out, layers=["relu1"], n_maps=2)
    one = first.record(1)
    assert os.path.exists(os.path.join(out, "figures", "evolution_relu1.png"))  # drawn already
    plus_net.params()["conv1.W"][0] = BAR[None]
    first.record(2, draw=False)
    assert sorted(os.listdir(os.path.join(out, "evolution"))) == ["epoch_0001.npz",
                                                                  "epoch_0002.npz"]
    # a new recorder on the same folder (a resumed run) starts from the saved history
    again = EvolutionRecorder(plus_net, probe, out, layers=["relu1"], n_maps=2)
    assert again.epochs == [1, 2]
    np.testing.assert_allclose(again.frames["relu1"][0], one["relu1"], atol=0.5 / 255)
    again.record(3, draw=False)
    assert again.epochs == [1, 2, 3]
    # resumed from the epoch-1 checkpoint: epochs 2 and 3 of the abandoned timeline go
    older = EvolutionRecorder(plus_net, probe, out, layers=["relu1"], n_maps=2)
    older.record(2, draw=False)
    assert older.epochs == [1, 2]
    assert sorted(os.listdir(os.path.join(out, "evolution"))) == ["epoch_0001.npz",
                                                                  "epoch_0002.npz"]
    # another choice of maps (another net in this folder) does not read this history
    assert EvolutionRecorder(plus_net, probe, out, layers=["relu1"], n_maps=3).epochs == []
