"""report.html shows every PNG; the whole pipeline writes what it says; the command line fails
with one line on bad input."""
import glob
import os
import re

import numpy as np
import pytest

from tests.nets import tiny_zfnet
from zfcore.vis.pipeline import WHAT, Sample, visualize
from zfcore.vis.report import Report
from zfcore import visualize as cli


def run_cli(argv):
    """The exit status of ``python -m zfcore.visualize argv``, run in this process (main goes
    through the shared zfcore.cli.run)."""
    return cli.main(argv)


def referenced(html):
    return set(re.findall(r"<img src='([^']+)'", html))


def pngs(out):
    return {os.path.relpath(p, out).replace(os.sep, "/")
            for p in glob.glob(os.path.join(out, "**", "*.png"), recursive=True)}


def write_png(path):
    from PIL import Image
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)


def test_a_report_write_that_fails_leaves_the_last_report_whole(tmp_path, monkeypatch):
    """The disk fills up while the new page is written: the old page is still there, whole,
    and no temporary file is left."""
    import zfcore.atomic as atomic
    first = Report("first run")
    first.note("the first run's numbers")
    path = first.write(str(tmp_path))
    old = open(path).read()

    class Full:
        def __init__(self, *a, **k):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write(self, text):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic, "open", Full, raising=False)
    second = Report("second run")
    second.note("the second run's numbers")
    with pytest.raises(OSError):
        second.write(str(tmp_path))
    assert open(path).read() == old and "first run" in old
    assert os.listdir(str(tmp_path)) == ["report.html"]


def test_report_references_every_png_once(tmp_path):
    out = str(tmp_path)
    for name in ("figures/a.png", "figures/b.png", "figures/sub/c.png", "d.png"):
        write_png(os.path.join(out, name))
    rep = Report("t")
    rep.figure("figures/a.png", "caption <a>")
    rep.html("<p>x</p>")
    html = open(rep.write(out)).read()
    assert referenced(html) == pngs(out)
    assert html.count("figures/a.png'") == 2          # link + image, once
    assert "caption &lt;a&gt;" in html


def small_sample(n=16, size=32, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size + 4, size + 4, 3), dtype=np.uint8)
    boxes = np.tile([8, 10, 24, 30], (n, 1))
    masks = np.zeros((n, size + 4, size + 4), dtype=bool)
    masks[:, 10:22, 12:28] = True
    labels = np.arange(n) % 3
    return Sample(images, labels, images.mean(axis=0).astype(np.float32), size, ["a", "b", "c"],
                  boxes, masks)


def test_pipeline_writes_every_figure_and_the_report_shows_them(tmp_path):
    net = tiny_zfnet()
    sample = small_sample()
    assert sample.boxes[0].tolist() == [6, 8, 22, 28] and sample.masks.shape == (16, 32, 32)
    run = tmp_path / "run" / "figures"
    run.mkdir(parents=True)
    write_png(str(run / "evolution_relu1.png"))
    done = []
    out = str(tmp_path / "out")
    path, scores = visualize(net, sample, out, WHAT, run_dir=str(tmp_path / "run"), n_maps=4,
                             n_show=2, n_score=3, progress=done.append)
    assert done == list(WHAT)
    files = pngs(out)
    for expected in ("figures/top9_relu1.png", "figures/top9_relu5.png",
                     "figures/evolution_relu1.png", "figures/invariance.png",
                     "figures/filters_layer1.png", "figures/occlusion_0.png",
                     "figures/occlusion_1.png"):
        assert expected in files
    html = open(path).read()
    assert referenced(html) == files
    assert "Other figures" not in html              # every figure has its own caption
    assert set(scores) >= {"filters", "correspondence", "occlusion_minimum_in_box",
                           "projection_energy_in_mask"}
    assert 0 <= scores["occlusion_minimum_in_box"]["chance"] <= 1
    assert os.path.exists(os.path.join(out, "scores.json"))


def test_cli_missing_checkpoint_is_one_line(tmp_path, capsys):
    code = run_cli([str(tmp_path / "nope.h5"), "--data", "synthetic", "--out",
                     str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "nope.h5" in err and "no such file" in err
    assert err.startswith("zfcore.visualize: error: ") and "Traceback" not in err


@pytest.mark.parametrize("argv,word", [
    (["ck.h5", "--out", "o", "--what", "top9,bogus"], "bogus"),
    (["ck.h5", "--out", "o", "--n-images", "0"], "--n-images"),
    (["ck.h5"], "--out"),
    (["compare", "a.h5", "--out", "o"], "CHECKPOINT"),
])
def test_cli_bad_arguments_are_one_line(argv, word, capsys):
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and word in err


def test_cli_corrupt_checkpoint_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all")
    assert run_cli([str(bad), "--data", "synthetic", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.h5" in err


def _saved_checkpoint(path, net, size):
    save = pytest.importorskip("zfcore.checkpoint").save_checkpoint
    data = pytest.importorskip("zfcore.data")
    if not hasattr(data, "open_dataset"):
        pytest.skip("zfcore.data.open_dataset not there")
    ds = data.open_dataset("synthetic", "train", size=size, n=24)
    save(str(path), net, None, ds.mean, ds.class_names,
         {"epoch": 1, "data": "synthetic", "seed": 0})
    return str(path)


def test_cli_end_to_end_on_synthetic(tmp_path, capsys):
    net = tiny_zfnet()
    net.layers["fc8"].params["W"] = np.zeros((12, 24), np.float32)   # synthetic has 12 classes
    net.layers["fc8"].params["b"] = np.zeros(12, np.float32)
    net.spec["num_classes"] = 12
    ck = _saved_checkpoint(tmp_path / "checkpoint.h5", net, 32)
    out = tmp_path / "vis"
    code = run_cli([ck, "--out", str(out), "--n-images", "24", "--what",
                     "occlusion,scores,filters", "--n-score", "4", "--device", "cpu"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "occlusion minimum inside the object box" in printed and "wrote" in printed
    html = (out / "report.html").read_text()
    assert referenced(html) == pngs(str(out)) and "figures/occlusion_2.png" in referenced(html)
    # the output never depends on the image (fc8 is zero): the occlusion score is exactly chance
    import json
    s = json.loads((out / "scores.json").read_text())["occlusion_minimum_in_box"]
    assert s["n"] == 4 and s["rate"] == pytest.approx(s["chance"], abs=1e-12)
    assert run_cli([ck, "--out", str(out), "--occluder", "40"]) == 2
    assert "--occluder" in capsys.readouterr().err


def test_cli_compare_two_checkpoints(tmp_path, capsys):
    a, b = tiny_zfnet(), tiny_zfnet()
    for net in (a, b):
        net.layers["fc8"].params["W"] = np.zeros((12, 24), np.float32)
        net.layers["fc8"].params["b"] = np.zeros(12, np.float32)
        net.spec["num_classes"] = 12
    b.params()["conv1.W"][:4] = 0.0                 # half of b's first layer is dead
    ca = _saved_checkpoint(tmp_path / "a.h5", a, 32)
    (tmp_path / "run_b").mkdir()
    _saved_checkpoint(tmp_path / "run_b" / "checkpoint.h5", b, 32)
    out = tmp_path / "cmp"
    # a checkpoint file and a run folder; the older device word still works
    assert run_cli(["compare", ca, str(tmp_path / "run_b"), "--out", str(out), "--n-images",
                    "12", "--device", "numpy"]) == 0
    printed = capsys.readouterr().out
    assert "dead layer-1 filters 0.0%" in printed and "dead layer-1 filters 50.0%" in printed
    assert referenced((out / "report.html").read_text()) == {"figures/compare_layer1_layer2.png"}



def test_progress_names_each_step_before_it_runs(tmp_path):
    """progress(name) comes as the step starts (a bar shows what is running): at the call for a
    step, its figure is not there yet; the steps before it have written theirs."""
    out = tmp_path / "out"
    seen = {}

    def progress(name):
        seen[name] = sorted(p.name for p in (out / "figures").glob("*.png"))

    visualize(tiny_zfnet(), small_sample(), str(out), ("filters", "occlusion"), n_maps=4,
              n_show=1, progress=progress)
    assert list(seen) == ["filters", "occlusion"]
    assert seen["filters"] == []
    assert "filters_layer1.png" in seen["occlusion"]
    assert not any(n.startswith("occlusion") for n in seen["occlusion"])
