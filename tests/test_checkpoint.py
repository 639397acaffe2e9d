import errno
import json
import os

import h5py
import numpy as np
import pytest

from zfcore import models
from zfcore.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def _save(path, net, epoch=3):
    velocity = {k: np.full_like(v, 0.5) for k, v in net.params().items()}
    save_checkpoint(str(path), net, velocity, np.ones((64, 64, 3), np.float32),
                    ["c%d" % i for i in range(10)], {"epoch": epoch, "lr": 0.01, "seed": 7})
    return velocity


def test_round_trip_keeps_weights_velocity_state_and_dropout_rng(tmp_path):
    net = models.zfnet_small(10, seed=3)
    net.layers["drop6"].rng.random(5)                  # move the dropout stream off its start
    velocity = _save(tmp_path / "c.h5", net)
    ck = load_checkpoint(str(tmp_path / "c.h5"))
    for k, v in net.params().items():
        np.testing.assert_array_equal(ck.net.params()[k], v)
        np.testing.assert_array_equal(ck.velocity[k], velocity[k])
    assert ck.epoch == 3 and ck.state["seed"] == 7 and ck.class_names[9] == "c9"
    assert ck.spec == net.spec
    np.testing.assert_array_equal(ck.net.layers["drop6"].rng.random(4),
                                  net.layers["drop6"].rng.random(4))


def test_missing_foreign_and_truncated_files_are_one_line_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(str(tmp_path / "nope.h5"))
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(CheckpointError, match="not a zfcore checkpoint"):
        load_checkpoint(str(tmp_path / "foreign.h5"))
    _save(tmp_path / "good.h5", models.zfnet_small(10))
    data = (tmp_path / "good.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.h5") as e:
        load_checkpoint(str(tmp_path / "cut.h5"))
    assert "\n" not in str(e.value)
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(CheckpointError, match="text.h5"):
        load_checkpoint(str(tmp_path / "text.h5"))


def test_weights_that_do_not_match_the_spec_are_refused(tmp_path):
    _save(tmp_path / "c.h5", models.zfnet_small(10))
    with h5py.File(tmp_path / "c.h5", "a") as f:
        del f["params/fc8.W"]
        f["params/fc8.W"] = np.zeros((7, 256), np.float32)
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(str(tmp_path / "c.h5"))


def test_a_write_killed_midway_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.h5"
    net = models.zfnet_small(10, seed=1)
    _save(path, net, epoch=1)
    newer = models.zfnet_small(10, seed=2)
    calls = {"n": 0}
    real = h5py.Group.create_dataset

    def dying(self, name, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt("killed")
        return real(self, name, *a, **kw)

    monkeypatch.setattr(h5py.Group, "create_dataset", dying)
    with pytest.raises(KeyboardInterrupt):
        _save(path, newer, epoch=2)
    monkeypatch.undo()
    ck = load_checkpoint(str(path))
    assert ck.epoch == 1
    np.testing.assert_array_equal(ck.net.params()["conv1.W"], net.params()["conv1.W"])


def test_an_older_file_without_layer_state_and_with_dropout_rng_still_loads(tmp_path):
    # Files written before Layer.state and random_state(): no 'layer_state' group, the dropout
    # streams under state['dropout_rng'].
    net = models.zfnet_small(10, seed=3)
    net.layers["drop7"].rng.random(9)
    _save(tmp_path / "old.h5", net)
    with h5py.File(tmp_path / "old.h5", "a") as f:
        state = json.loads(f.attrs["state"])
        state["dropout_rng"] = state.pop("layer_rng")
        f.attrs["state"] = json.dumps(state)
        assert "layer_state" not in f                  # no layer of zfnet_small has buffers
    ck = load_checkpoint(str(tmp_path / "old.h5"))
    np.testing.assert_array_equal(ck.net.layers["drop7"].rng.random(4),
                                  net.layers["drop7"].rng.random(4))
    # Saved again, the older key is replaced by the new one, not carried along.
    save_checkpoint(str(tmp_path / "new.h5"), ck.net, ck.velocity, ck.mean, ck.class_names,
                    ck.state)
    with h5py.File(tmp_path / "new.h5", "r") as f:
        state = json.loads(f.attrs["state"])
    assert "dropout_rng" not in state and set(state["layer_rng"]) == {"drop6", "drop7"}


def test_an_unknown_layer_kind_is_a_one_line_error(tmp_path):
    _save(tmp_path / "c.h5", models.zfnet_small(10))
    with h5py.File(tmp_path / "c.h5", "a") as f:
        spec = json.loads(f.attrs["spec"])
        spec["layers"][1][1] = "wobble"
        f.attrs["spec"] = json.dumps(spec)
    with pytest.raises(CheckpointError, match="c.h5.*wobble"):
        load_checkpoint(str(tmp_path / "c.h5"))


def test_a_failed_write_leaves_no_tmp_and_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    """Ctrl-C in the middle of the write: the old checkpoint, and no checkpoint.h5.tmp."""
    path = tmp_path / "checkpoint.h5"
    _save(path, models.zfnet_small(10, seed=1), epoch=1)
    real = h5py.Group.create_dataset

    def dying(self, name, *a, **kw):
        if name.startswith("velocity/"):
            raise KeyboardInterrupt("killed")
        return real(self, name, *a, **kw)

    monkeypatch.setattr(h5py.Group, "create_dataset", dying)
    with pytest.raises(KeyboardInterrupt):
        _save(path, models.zfnet_small(10, seed=2), epoch=2)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.h5"]
    assert load_checkpoint(str(path)).epoch == 1


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_a_full_disk_is_an_oserror_naming_the_file_and_leaves_no_tmp(tmp_path):
    """A real ENOSPC from the file system: the temporary file is a link to /dev/full, so every
    write h5py makes into it fails as on a full disk."""
    path = tmp_path / "checkpoint.h5"
    _save(path, models.zfnet_small(10, seed=1), epoch=1)
    os.symlink("/dev/full", str(path) + ".tmp")
    with pytest.raises(OSError) as e:
        _save(path, models.zfnet_small(10, seed=2), epoch=2)
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(path)
    assert not os.path.lexists(str(path) + ".tmp")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.h5"]
    assert load_checkpoint(str(path)).epoch == 1


def test_a_folder_that_cannot_hold_the_file_is_an_oserror_and_leaves_nothing(tmp_path):
    (tmp_path / "plain").write_text("a file, not a folder")
    path = tmp_path / "plain" / "checkpoint.h5"
    with pytest.raises(OSError) as e:
        _save(path, models.zfnet_small(10))
    assert e.value.errno == errno.ENOTDIR
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]


def test_a_run_folder_is_not_read_as_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="a folder, not a checkpoint file"):
        load_checkpoint(str(tmp_path))
