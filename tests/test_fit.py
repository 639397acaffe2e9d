"""The training library: ``fit`` is the command line's loop, the recipe per architecture,
callbacks, exact resume, and the README's example."""
import csv
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.readme import readme_block
from zfcore import cli
from zfcore.checkpoint import load_checkpoint
from zfcore.data import open_dataset
from zfcore.models import spec_of, build
from zfcore.recipe import recipe
from zfcore.train import Callback, TrainingError, fit
from zfcore.train import main as train_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def tiny():
    """64 training and 32 validation images of the synthetic set (seed 1, 64x64)."""
    return (open_dataset("synthetic", "train", n=64, seed=1),
            open_dataset("synthetic", "val", n=32, seed=1))


def assert_same_run(a, b):
    for key, w in a.net.params().items():
        np.testing.assert_array_equal(w, b.net.params()[key], err_msg=key)
        np.testing.assert_array_equal(a.velocity[key], b.velocity[key], err_msg=key)


def test_fit_with_its_defaults_trains_what_the_command_line_trains(tmp_path):
    cli.run(train_main, ["--n-train", "192", "--batch-size", "64", "--epochs", "1", "--seed", "3",
                         "--quiet", "--no-evolution", "--out", str(tmp_path / "cli")],
            prog="zfcore.train")
    train = open_dataset("synthetic", "train", n=192, seed=3, size=64)
    val = open_dataset("synthetic", "val", n=64, seed=3, size=64)   # does not touch the weights
    net = recipe("zfnet_small", num_classes=len(train.class_names)).build(seed=3)
    rows = fit(net, train, val, out_dir=str(tmp_path / "lib"), epochs=1, batch_size=64, seed=3)
    a = load_checkpoint(str(tmp_path / "cli" / "checkpoint.h5"))
    b = load_checkpoint(str(tmp_path / "lib" / "checkpoint.h5"))
    assert a.state["step"] == b.state["step"] == 3 and [r["epoch"] for r in rows] == [1]
    assert a.spec == b.spec
    assert_same_run(a, b)


def _dropout_keeps(net, name, p):
    """The share of units a dropout layer keeps in training, and the value it gives them."""
    y = net.layers[name].forward(np.ones((200, 256), np.float32), train=True)
    kept = y[y != 0]
    if p:
        assert np.allclose(kept, 1 / (1 - p))
    return kept.size / y.size


def _weights(net):
    return {k: np.asarray(w) for k, w in net.params().items() if k.endswith(".W")}


@pytest.mark.parametrize("arch", ["zfnet_small", "alexnet_small", "zfnet_small32",
                                  "alexnet_small32"])
def test_small_nets_get_he_init_scaled_inputs_and_no_dropout(arch):
    rec = recipe(arch, num_classes=12)
    net = rec.build(seed=0)
    for key, W in _weights(net).items():
        he = np.sqrt(2.0 / np.prod(W.shape[1:]))          # sqrt(2 / fan_in), He et al. 2015
        assert abs(W.std() / he - 1) < 0.06, key          # >= 2400 draws: 4 standard errors
        assert abs(W.mean()) < 0.1 * he, key
    assert all(not b.any() for k, b in net.params().items() if k.endswith(".b"))
    # the net multiplies its inputs by 1/64: the same weights at scale 1 see x / 64
    plain = build(spec_of(arch, 12, input_channels=3, init_std="he", input_scale=1.0), seed=0)
    x = np.random.default_rng(0).normal(0, 60, (2,) + tuple(net.spec["input"])).astype(np.float32)
    np.testing.assert_allclose(net.forward(x), plain.forward(x / 64), rtol=1e-5, atol=1e-6)
    assert not np.allclose(net.forward(x), plain.forward(x), rtol=1e-3)
    assert _dropout_keeps(net, "drop6", 0) == 1.0 and _dropout_keeps(net, "drop7", 0) == 1.0
    assert rec.training["lr"] == 1e-2 and rec.training["momentum"] == 0.9
    assert rec.training["weight_decay"] == 5e-4 and rec.training["max_filter_rms"] == 0.1


@pytest.mark.parametrize("arch", ["zfnet", "alexnet"])
def test_paper_nets_get_normal_0_01_pixel_inputs_and_dropout_half(arch):
    net = recipe(arch, num_classes=10).build(seed=0)
    for key, W in _weights(net).items():
        assert abs(W.std() / 0.01 - 1) < 0.05, key
    conv1 = _weights(net)["conv1.W"]
    assert abs(conv1.std() - np.sqrt(2.0 / np.prod(conv1.shape[1:]))) > 0.02   # not He's
    assert net.input_scale == 1.0
    for name in ("drop6", "drop7"):
        assert abs(_dropout_keeps(net, name, 0.5) - 0.5) < 0.02


def test_recipe_overrides():
    net = recipe("zfnet_small", 12, init=0.01, dropout=0.5).build(seed=0)
    assert abs(_weights(net)["conv2.W"].std() / 0.01 - 1) < 0.05 and net.input_scale == 1.0
    assert abs(_dropout_keeps(net, "drop6", 0.5) - 0.5) < 0.03
    with pytest.raises(ValueError):
        recipe("zfnet_small", 12, init="wide")
    with pytest.raises(ValueError):
        recipe("zfnet_big", 12)


class Log(Callback):
    def __init__(self, stop_after=None):
        self.events, self.stop_after = [], stop_after

    def on_train_start(self, trainer):
        self.events.append(("start", trainer.epoch))

    def on_epoch_start(self, trainer, epoch):
        self.events.append(("epoch", epoch))

    def on_step_end(self, trainer, stats):
        self.events.append(("step", stats["step"]))

    def on_epoch_end(self, trainer, row):
        self.events.append(("end", row["epoch"]))
        if row["epoch"] == self.stop_after:
            trainer.stop = True

    def on_train_end(self, trainer):
        self.events.append(("done", trainer.epoch))

    def on_train_error(self, trainer, error):
        self.events.append(("error", type(error).__name__))


def test_callbacks_see_every_epoch_and_step_in_order(tiny, tmp_path):
    train, val = tiny
    log = Log()
    rows = fit(recipe("zfnet_small", 12).build(seed=0), train, val, epochs=2, batch_size=32,
               callbacks=[log])
    assert log.events == [("start", 0), ("epoch", 1), ("step", 1), ("step", 2), ("end", 1),
                          ("epoch", 2), ("step", 3), ("step", 4), ("end", 2), ("done", 2)]
    assert [r["epoch"] for r in rows] == [1, 2] and [r["step"] for r in rows] == [2, 4]
    assert not os.listdir(tmp_path)                 # no out_dir: nothing written anywhere


def test_resume_through_fit_is_exact(tiny, tmp_path):
    # dropout on (its streams must be restored) and lr x0.1 after every epoch (patience 0)
    train, val = tiny
    rec = recipe("zfnet_small", 12, dropout=0.5)
    whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
    kw = dict(epochs=3, batch_size=32, patience=0, seed=2, momentum=0.8)
    fit(rec.build(seed=0), train, val, out_dir=whole, **kw)
    log = Log(stop_after=1)
    fit(rec.build(seed=0), train, val, out_dir=parts, callbacks=[log], **kw)
    assert log.events[-1] == ("done", 1) and load_checkpoint(parts + "/checkpoint.h5").epoch == 1
    log = Log()       # another net's weights and dropout seeds: the checkpoint replaces them
    fit(rec.build(seed=7), train, val, out_dir=parts, resume=parts, callbacks=[log])
    assert log.events[0] == ("start", 1) and log.events[-1] == ("done", 3)
    a, b = load_checkpoint(whole + "/checkpoint.h5"), load_checkpoint(parts + "/checkpoint.h5")
    for key in ("epoch", "step", "lr", "best_val_err", "since_best", "seed", "layer_rng"):
        assert a.state[key] == b.state[key], key
    assert a.state["lr"] == pytest.approx(1e-5)
    assert_same_run(a, b)
    with open(os.path.join(parts, "metrics.csv")) as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["1", "2", "3"]
    with pytest.raises(FileExistsError):            # a run folder is never overwritten
        fit(rec.build(seed=0), train, val, out_dir=parts, epochs=1)


def test_anneal_by_divides_lr_once_if_the_plateau_rule_has_not(tiny):
    """``anneal_by`` 0.5 of 4 epochs: lr / 10 after epoch 2 when the val error never plateaus
    (patience 100), and nothing more when the plateau rule has already divided it."""
    train, val = tiny
    kw = dict(epochs=4, batch_size=32, seed=0, anneal_by=0.5)
    rows = fit(recipe("zfnet_small", 12).build(seed=0), train, val, patience=100, **kw)
    assert [r["lr"] for r in rows] == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3])
    rows = fit(recipe("zfnet_small", 12).build(seed=0), train, val, patience=0, max_lr_drops=1,
               **kw)
    assert [r["lr"] for r in rows] == pytest.approx([1e-2, 1e-3, 1e-3, 1e-3])


def test_a_run_resumed_with_anneal_by_at_its_anneal_epoch_is_the_run_that_had_it(tiny, tmp_path):
    """Stopped after epoch 2 of 4 without ``anneal_by`` and resumed with 0.5: lr / 10 from epoch
    3, and the same weights, bit for bit, as a run that had 0.5 from the start."""
    train, val = tiny
    whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
    kw = dict(epochs=4, batch_size=32, seed=0, patience=100)
    fit(recipe("zfnet_small", 12).build(seed=0), train, val, out_dir=whole, anneal_by=0.5, **kw)
    fit(recipe("zfnet_small", 12).build(seed=0), train, val, out_dir=parts, anneal_by=0,
        callbacks=[Log(stop_after=2)], **kw)
    assert load_checkpoint(parts + "/checkpoint.h5").state["lr"] == pytest.approx(1e-2)
    rows = fit(recipe("zfnet_small", 12).build(seed=7), train, val, out_dir=parts, resume=parts,
               anneal_by=0.5)
    assert [r["lr"] for r in rows] == pytest.approx([1e-3, 1e-3])
    assert_same_run(load_checkpoint(whole + "/checkpoint.h5"),
                    load_checkpoint(parts + "/checkpoint.h5"))


def test_frozen_layers_are_not_backpropagated_and_the_run_is_the_same(tiny, monkeypatch):
    """Layers 1-7 frozen (the transfer protocol): backward stops at fc8, and the run gives the
    same weights, bit for bit, as one that backpropagates through every layer."""
    from zfcore.trainer import Trainer
    train, val = tiny
    frozen = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"]

    def run(whole):
        t = Trainer(recipe("zfnet_small", 12).build(seed=0), train, val, epochs=1,
                    batch_size=16, seed=0, frozen=frozen)
        if whole:
            t.lowest = None
        else:
            assert t.lowest == "fc8"
            monkeypatch.setattr(t.net.layers["fc7"], "backward",
                                lambda *a, **k: pytest.fail("fc7 was visited"))
        t.fit()
        return t.opt

    whole, down_to_fc8 = run(whole=True), run(whole=False)
    assert_same_run(whole, down_to_fc8)
    assert np.abs(whole.velocity["fc8.W"]).max() > 0          # fc8 did train


def test_a_diverging_run_stops_with_epoch_and_step(tiny, tmp_path):
    train, val = tiny
    log = Log()
    with pytest.raises(TrainingError) as e:
        fit(recipe("zfnet_small", 12).build(seed=0), train, val, out_dir=str(tmp_path),
            epochs=3, batch_size=16, lr=1e12, callbacks=[log])
    assert re.search(r"at epoch 1, step \d+", str(e.value)) and "none" in str(e.value)
    assert log.events[-1] == ("error", "TrainingError")
    assert not os.path.exists(tmp_path / "checkpoint.h5")


def test_readme_training_from_python_runs_as_written(tmp_path, monkeypatch, capsys):
    code = readme_block("from zfcore.data import open_dataset\nfrom zfcore.recipe import recipe\n")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert re.search(r"^epoch 1/1 .*val top-1 err", out, re.M)
    assert re.search(r"^epoch 2/2 ", out, re.M)
    assert load_checkpoint("runs/from-python/checkpoint.h5").epoch == 2


def test_the_library_imports_no_command_line_and_no_vis():
    code = ("import sys, zfcore.trainer, zfcore.recipe, zfcore.evaluation, zfcore.data; "
            "print(sorted(m for m in sys.modules if m == 'argparse' or m == 'zfcore.train' "
            "or m.startswith('zfcore.vis')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), check=True).stdout
    assert out.strip() == "[]"
