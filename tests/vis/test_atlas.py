"""The unit atlas against first principles: each unit page's top-9 against a scan of the images
one at a time, per-class means against a direct average, evolution frames against the run's
history files, occlusion maps against hand-occluded forwards; every link and image of the site
resolves; an interrupted build resumes to the same files; the command line."""
import base64
import io
import json
import os
import re

import numpy as np
import pytest
from PIL import Image

from tests.nets import tiny_zfnet
from zfcore.vis import atlas as atlas_mod
from zfcore.vis.atlas import atlas_layers, build_atlas, unit_name
from zfcore.vis.evolution import EvolutionRecorder
from zfcore.vis.pipeline import Sample


def tiny_sample(n=30):
    from zfcore.data import open_dataset
    ds = open_dataset("synthetic", "val", size=32, n=n)
    return Sample(ds.images, ds.labels, ds.mean, 32, ds.class_names)


def tiny_run(run_dir, net, sample, epochs=(1, 2, 3)):
    """A run folder whose evolution history has ``epochs``, the weights changed in between (the
    net is left at the last epoch's weights)."""
    rng = np.random.default_rng(5)
    rec = EvolutionRecorder(net, sample.inputs.x(np.arange(12)), str(run_dir), n_maps=4)
    for e in epochs:
        if e != epochs[0]:
            for v in net.params().values():
                v *= (1 + 0.3 * rng.standard_normal(v.shape)).astype(v.dtype)
        rec.record(e, draw=False)
    return rec


def tiny_atlas(tmp, n=30, **kw):
    """(net, sample, recorder, out folder, build result) of a tiny net's atlas."""
    net, sample = tiny_zfnet(12), tiny_sample(n)
    rec = tiny_run(os.path.join(tmp, "run"), net, sample)
    out = os.path.join(tmp, "atlas")
    result = build_atlas(net, sample, out, run_dir=os.path.join(tmp, "run"), **kw)
    return net, sample, rec, out, result


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return tiny_atlas(str(tmp_path_factory.mktemp("atlas")))


def unit_data(out, conv, c, n_units):
    text = open(os.path.join(out, conv, unit_name(c, n_units) + ".html")).read()
    return json.loads(re.search(r"<script type='application/json' id='unit-data'>(.*?)</script>",
                                text).group(1)), text


def per_image_maxima(net, sample, act):
    """(N, C) the strongest activation of every map in every image, one image at a time."""
    rows = []
    for n in range(len(sample)):
        a = net.forward(sample.inputs.x([n]), keep=[act])[act][0]        # (C, H, W)
        rows.append(a.reshape(a.shape[0], -1).max(axis=1))
    return np.array(rows, dtype=np.float64)


def test_unit_pages_top9_equal_a_scan_one_image_at_a_time(site):
    net, sample, _, out, result = site
    assert result["units"] == 8 + 4 * 12 and result["written"] == result["units"]
    for conv, act in atlas_layers(net):
        best = per_image_maxima(net, sample, act)
        for c in range(best.shape[1]):
            d, _ = unit_data(out, conv, c, best.shape[1])
            order = sorted(range(len(sample)), key=lambda n: (-best[n, c], n))[:9]
            np.testing.assert_allclose(d["values"], best[order, c], rtol=1e-5, atol=1e-5)
            strict = np.diff(best[order, c]) < -1e-4 * abs(best[order[0], c])
            # the image order is only fixed where the values are apart by more than rounding
            for s in range(9):
                if (s == 0 or strict[s - 1]) and (s == 8 or strict[s]):
                    assert d["images"][s] == order[s], (conv, c, s)


def test_per_class_means_and_best_images_equal_a_direct_computation(site):
    net, sample, _, out, _ = site
    labels = np.asarray(sample.labels)
    for conv, act in atlas_layers(net):
        best = per_image_maxima(net, sample, act)
        for c in range(best.shape[1]):
            d, _ = unit_data(out, conv, c, best.shape[1])
            for k, m in enumerate(d["class_mean"]):
                if not (labels == k).any():
                    assert m is None and d["class_best"][k] is None
                    assert d["class_best_image"][k] == -1
                    continue
                assert m == pytest.approx(best[labels == k, c].mean(), rel=1e-5, abs=1e-5)
                rows = np.flatnonzero(labels == k)
                first = rows[np.argmax(best[rows, c])]
                assert d["class_best"][k] == pytest.approx(best[first, c], rel=1e-5, abs=1e-5)
                near = rows[best[rows, c] >= best[first, c] - 1e-4 * abs(best[first, c])]
                assert d["class_best_image"][k] in near.tolist()
            live = [m for m in d["class_mean"] if m is not None]
            assert d["best_class"] == int(np.argmax([m if m is not None else -np.inf
                                                     for m in d["class_mean"]]))
            assert max(live) == d["class_mean"][d["best_class"]]


def decode(uri):
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_evolution_frames_are_the_runs_history(site):
    net, _, rec, out, _ = site
    folder = os.path.join(os.path.dirname(out), "run", "evolution")
    files = sorted(os.listdir(folder))
    assert files == ["epoch_0001.npz", "epoch_0002.npz", "epoch_0003.npz"]
    for conv, act in atlas_layers(net):
        n_units = len(net.params()[conv + ".W"])
        recorded = [int(m) for m in np.load(os.path.join(folder, files[0]))["maps/" + act]]
        for c in range(n_units):
            _, text = unit_data(out, conv, c, n_units)
            m = re.search(r"id='evo-data'>(.*?)</script>", text)
            if c not in recorded:
                assert m is None and "evo-slider" not in text
                continue
            evo = json.loads(m.group(1))
            assert evo["epochs"] == [1, 2, 3]
            k = recorded.index(c)
            for e, uri, value in zip(evo["epochs"], evo["frames"], evo["values"]):
                with np.load(os.path.join(folder, "epoch_%04d.npz" % e)) as f:
                    np.testing.assert_array_equal(decode(uri), f["frames/" + act][k])
                    assert value == pytest.approx(float(f["values/" + act][k]), rel=1e-6)
            assert "evo-slider" in text
    # three different epochs: the frames change as the weights did
    evo_frames = rec.frames[rec.layers[1]]
    assert not np.array_equal(evo_frames[0], evo_frames[2])


def test_occlusion_maps_equal_hand_occluded_forwards(site):
    net, sample, _, out, _ = site
    size, stride = json.load(open(os.path.join(out, "atlas.json")))["occluder"]
    for conv, act, c in [("conv2", "relu2", 3), ("conv5", "relu5", 0)]:
        d, _ = unit_data(out, conv, c, 12)
        assert d["occlusion"], (conv, c)
        for occ in d["occlusion"][:2]:
            assert d["images"][occ["rank"]] == occ["image"]
            x = sample.inputs.x([occ["image"]])
            got = np.array(occ["map"])
            h = x.shape[2]
            n = (h - size) // stride + 1
            assert got.shape == (n, n)
            for i in range(n):
                for j in range(n):
                    xo = x.copy()
                    xo[0, :, i * stride:i * stride + size, j * stride:j * stride + size] = 0.0
                    want = net.forward(xo, keep=[act])[act][0, c].sum()
                    assert got[i, j] == pytest.approx(float(want), rel=1e-4, abs=1e-3)
            assert occ["unoccluded"] == pytest.approx(
                float(net.forward(x, keep=[act])[act][0, c].sum()), rel=1e-4, abs=1e-3)


def site_files(out):
    return sorted(os.path.relpath(os.path.join(d, f), out)
                  for d, _, fs in os.walk(out) for f in fs)


def test_every_link_and_image_of_the_site_resolves(site):
    net, _, _, out, _ = site
    pages = [p for p in site_files(out) if p.endswith(".html")]
    assert "index.html" in pages and "conv5/index.html" in pages and "conv5/011.html" in pages
    for p in pages:
        text = open(os.path.join(out, p)).read()
        assert "http://" not in text and "https://" not in text, p     # works offline
        for ref in re.findall(r"(?:href|src)='([^']+)'", text):
            if ref.startswith("data:"):
                continue
            target = os.path.normpath(os.path.join(out, os.path.dirname(p), ref))
            assert os.path.exists(target), (p, ref)
    # previous / next units and layers
    text = open(os.path.join(out, "conv2", "000.html")).read()
    assert "href='001.html'" in text and "&lt; (first unit)" in text
    assert "href='../conv1/index.html'" in text and "href='../conv3/index.html'" in text
    assert "href='010.html'" in open(os.path.join(out, "conv2", "011.html")).read()


def test_a_dead_unit_and_the_link_to_the_report_beside_the_atlas(tmp_path):
    net, sample = tiny_zfnet(12), tiny_sample(12)
    net.params()["conv3.W"][2] = 0.0
    net.params()["conv3.b"][2] = -1.0                 # relu3 map 2 is 0 everywhere: dead
    (tmp_path / "report.html").write_text("<p>report</p>")
    atlas = tmp_path / "atlas"
    build_atlas(net, sample, str(atlas), k=3, n_occlude=0)
    page = (atlas / "conv3" / "002.html").read_text()
    assert "href='../../report.html'" in page
    assert "dead on these 12 images" in page and "img/002.png" not in page
    assert not (atlas / "conv3" / "img" / "002.png").exists()
    assert (atlas / "conv3" / "img" / "001.png").exists()
    assert "<span class='dead'>dead</span>" in (atlas / "conv3" / "index.html").read_text()
    index = (atlas / "index.html").read_text()
    assert "href='../report.html'" in index
    row = re.search(r"<tr><td class='l'><a href='conv3/index.html'>.*?</tr>", index).group(0)
    assert re.findall(r"<td>(\d+)</td>", row)[-2:] == ["12", "11"]   # units, live
    assert "<td class='dead'>1</td>" in row


def test_an_interrupted_build_resumes_to_the_same_site(tmp_path, monkeypatch):
    net, sample = tiny_zfnet(12), tiny_sample(16)
    whole = str(tmp_path / "whole")
    build_atlas(net, sample, whole, k=4, n_occlude=1)
    part = str(tmp_path / "part")
    real, calls = atlas_mod._write_unit, []

    def interrupted(*args):
        if len(calls) == 20:
            raise KeyboardInterrupt
        calls.append(args[2])
        real(*args)

    monkeypatch.setattr(atlas_mod, "_write_unit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_atlas(net, sample, part, k=4, n_occlude=1)
    monkeypatch.setattr(atlas_mod, "_write_unit", real)
    assert not [f for f in site_files(part) if f.endswith(".tmp")]
    again = build_atlas(net, sample, part, k=4, n_occlude=1)
    assert (again["written"], again["skipped"]) == (56 - 20, 20)
    assert site_files(part) == site_files(whole)
    for f in site_files(whole):
        assert open(os.path.join(part, f), "rb").read() == open(os.path.join(whole, f),
                                                                "rb").read(), f
    assert build_atlas(net, sample, part, k=4, n_occlude=1)["written"] == 0
    # other weights: every page is made again
    net.params()["conv1.W"][:] *= 2
    assert build_atlas(net, sample, part, k=4, n_occlude=1)["written"] == 56


def test_command_line_atlas_prints_size_and_time(tmp_path, capsys):
    from zfcore.checkpoint import save_checkpoint
    from zfcore.data import open_dataset
    from zfcore.visualize import main
    ds = open_dataset("synthetic", "train", size=32, n=12)
    run = tmp_path / "run"
    run.mkdir()
    save_checkpoint(str(run / "checkpoint.h5"), tiny_zfnet(12), None, ds.mean, ds.class_names,
                    {"epoch": 1, "data": "synthetic", "seed": 0})
    out = tmp_path / "atlas"
    assert main([str(run), "--atlas", str(out), "--n-images", "10"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"atlas: 56 units \(56 written, 0 already there\) in [\d.]+ s, [\d.]+ MB",
                     printed), printed
    assert (out / "conv4" / "011.html").exists()
    assert main([str(run), "--n-images", "10"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["zfcore.visualize: error: --out: required (or --atlas OUT for the unit atlas "
                   "alone)"]
