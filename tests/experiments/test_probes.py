"""Per-layer probes (Sec. 5.3): the layers probed, and a probe on the last hidden layer of a
trained net beats a probe on the pixels."""
import sys

import numpy as np
import pytest

from tests.experiments.tiny import bars, spec2, spec5
from zfcore.experiments import probes
from zfcore.experiments.training import steps_budget, train
from zfcore.models import build


def test_the_layers_probed_after_relu_or_after_pool():
    spec = spec5()
    relu = dict(probes.probe_layers(spec, "relu"))
    pool = dict(probes.probe_layers(spec, "pool"))
    assert relu == {"pixels": None, "1": "relu1", "2": "relu2", "3": "relu3", "4": "relu4",
                    "5": "relu5", "6": "relu6", "7": "relu7"}
    assert pool == dict(relu, **{"1": "pool1", "5": "pool5"})    # the others have no pool


def test_the_last_layer_of_a_trained_net_beats_the_pixels():
    pytest.importorskip("sklearn")
    train_ds, test_ds = bars(240, seed=0), bars(200, seed=1)
    test_ds.mean = train_ds.mean
    net = build(spec2(), seed=0)
    train(net, train_ds, train_ds, steps_budget(len(train_ds), 90, 16, 0.01), seed=0)
    layers = probes.probe_layers(net.spec)
    assert layers[-1] == ("3", "relu3")
    idx = np.concatenate([np.flatnonzero(train_ds.labels == c)[:20] for c in (0, 1)])
    f_train = {k: v[idx] for k, v in probes.features(net, train_ds, layers).items()}
    f_test = probes.features(net, test_ds, layers)
    acc = probes.unit(f_train, train_ds.labels[idx], f_test, test_ds.labels, 2)
    for clf in probes.CLASSIFIERS:
        assert acc["3"][clf] > acc["pixels"][clf] + 0.15, acc
        assert acc["3"][clf] > 0.8, acc


def test_without_scikit_learn_one_line_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.svm", None)
    with pytest.raises(probes.MissingExtra, match=r"pip install 'zfcore\[experiments\]'"):
        probes.fit_score("svm", np.zeros((2, 3)), [0, 1], np.zeros((2, 3)), [0, 1], 2)
