"""Per-layer linear probes of the pretrained net (Z&F Sec. 5.3, Table 7).

The features of each layer of the net pretrained on the source classes (layer i's ReLU output,
or with ``at='pool'`` the output of the pool that follows it where there is one; the pixels
themselves as layer 0), for the target classes; on k images of each class a linear classifier
per layer (scikit-learn's linear SVM and multinomial logistic regression, "softmax" in the
paper's table; features standardised on the training images), scored by the mean per-class
accuracy on the target test images; over ``splits`` random draws of the k images, the mean
and the spread. Each split is one unit of work. The paper's finding to check: the accuracy
rises with depth.

scikit-learn is an optional extra: ``pip install 'zfcore[experiments]'``.
"""
import os

import numpy as np

from zfcore.backend import to_device, to_numpy
from zfcore.experiments import figures, splits
from zfcore.experiments.pretrain import pretrained
from zfcore.experiments.specs import weighted_layers
from zfcore.experiments.store import Store, read, write_json
from zfcore.experiments.training import crop_of, mean_class_accuracy, mean_std
from zfcore.experiments.transfer import KS, PRETRAIN, PRETRAIN_PER_CLASS, TEST_PER_CLASS

K, SPLITS, AT = 30, 5, "relu"
CLASSIFIERS = ("svm", "softmax")
PIXELS = "pixels"
INSTALL = "pip install 'zfcore[experiments]'"


class MissingExtra(ImportError):
    """scikit-learn is not installed; the message says how to install it."""


def _sklearn():
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVC
    except ImportError:
        raise MissingExtra("the probes need scikit-learn: %s (or pip install scikit-learn)"
                           % INSTALL) from None
    return LinearSVC, LogisticRegression, StandardScaler


def probe_layers(spec, at=AT):
    """[(label, layer name)] of the layers probed: ('pixels', None), then for each hidden
    weighted layer i ('1', ...) the first ReLU after it, or with ``at='pool'`` the last pool
    before the next weighted layer (the ReLU where there is none)."""
    if at not in ("relu", "pool"):
        raise ValueError("at must be 'relu' or 'pool', got %r" % (at,))
    names = [entry[0] for entry in spec["layers"]]
    kinds = [entry[1] for entry in spec["layers"]]
    weighted = weighted_layers(spec)
    out = [(PIXELS, None)]
    for i, name in enumerate(weighted[:-1]):
        start, stop = names.index(name), names.index(weighted[i + 1])
        inside = list(zip(names[start + 1:stop], kinds[start + 1:stop]))
        relu = [n for n, k in inside if k == "relu"]
        pool = [n for n, k in inside if k == "pool"]
        pick = pool[-1] if at == "pool" and pool else relu[0] if relu else name
        out.append((str(i + 1), pick))
    return out


def features(net, ds, layers, device="numpy", batch_size=64):
    """{label: (N, D) float32}: the centre crops of ``ds`` (mean-subtracted, as the net takes
    them; the pixels for ``None``) and the outputs of the layers named, flattened, from one
    ``net.forward(x, keep=[...])`` per batch."""
    from zfcore.data import batches
    names = [n for _, n in layers if n is not None]
    out = {label: [] for label, _ in layers}
    for x, _ in batches(ds, batch_size, crop_of(net), train=False):
        kept = net.forward(to_device(x, device), keep=names) if names else {}
        for label, name in layers:
            a = x if name is None else to_numpy(kept[name])
            out[label].append(np.asarray(a, np.float32).reshape(len(a), -1))
    return {label: np.concatenate(v) for label, v in out.items()}


def fit_score(kind, x_train, y_train, x_test, y_test, num_classes, seed=0):
    """Mean per-class test accuracy of one linear classifier on standardised features."""
    LinearSVC, LogisticRegression, StandardScaler = _sklearn()
    scaler = StandardScaler().fit(x_train)
    if kind == "svm":
        clf = LinearSVC(C=1.0, max_iter=5000, random_state=seed)
    elif kind == "softmax":
        clf = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    else:
        raise ValueError("classifier must be one of %s, got %r" % (", ".join(CLASSIFIERS), kind))
    import warnings
    with warnings.catch_warnings():     # a few hundred images rarely converge to 1e-4 exactly
        warnings.simplefilter("ignore")
        clf.fit(scaler.transform(x_train), y_train)
    return mean_class_accuracy(clf.predict(scaler.transform(x_test)), y_test, num_classes)


def unit(train_feats, y_train, test_feats, y_test, num_classes, classifiers=CLASSIFIERS,
         seed=0):
    """{layer label: {classifier: accuracy}} for one split."""
    return {label: {c: fit_score(c, train_feats[label], y_train, test_feats[label], y_test,
                                 num_classes, seed) for c in classifiers}
            for label in train_feats}


def protocol(setup, k, n_splits, at, layers, classifiers, pretrain_budget, pretrain_per_class,
             test_per_class, seed):
    return dict(setup.protocol(), experiment="probes (Z&F Sec. 5.3, Table 7)", k=k,
                splits=n_splits, at=at, layers={label: name for label, name in layers},
                classifiers=list(classifiers), seed=seed,
                classifier_settings="scikit-learn LinearSVC(C=1) / LogisticRegression(C=1), "
                "features standardised on the k training images",
                pretrain=dict(budget=pretrain_budget, per_class=pretrain_per_class,
                              classes="source"),
                test=dict(per_class=test_per_class, split="test", classes="target",
                          score="mean per-class accuracy"))


def run(root, setup, k=K, n_splits=SPLITS, at=AT, classifiers=CLASSIFIERS,
        pretrain_budget=None, pretrain_per_class=PRETRAIN_PER_CLASS,
        test_per_class=TEST_PER_CLASS, pool_per_class=max(KS), seed=0, log=print):
    """Probe every layer of the pretrained net (the one ``transfer`` uses, trained once) for
    each split not yet done under ``root/probes``; writes ``results.json`` and
    ``figures/probes.png`` there. Returns the table's rows."""
    _sklearn()
    pretrain_budget = dict(pretrain_budget or PRETRAIN)
    net, mean, _ = pretrained(root, setup, pretrain_budget, pretrain_per_class, seed, log)
    layers = probe_layers(net.spec, at)
    # the k images of a split are drawn from a larger pool (the transfer's), so splits differ
    pool = setup.open("train", setup.target_classes, max(k, pool_per_class), mean=mean)
    test = setup.open("test", setup.target_classes, test_per_class, mean=mean)
    proto = protocol(setup, k, n_splits, at, layers, classifiers, pretrain_budget,
                     pretrain_per_class, test_per_class, seed)
    have = int(splits.counts(pool.labels, pool.num_classes).min())
    proto.update(k_run=min(k, have), pool_per_class=have, test_images=len(test))
    store = Store(root + "/probes", proto, log)
    cache = {}

    def feats():                         # computed only when some split has work to do
        if not cache:
            cache["pool"] = features(net, pool, layers, setup.device)
            cache["test"] = features(net, test, layers, setup.device)
        return cache["pool"], cache["test"]

    for split in range(n_splits):
        def work(split=split):
            pool_f, test_f = feats()
            idx = splits.draw_per_class(pool.labels, k, seed, split)
            return dict(split=split, n_train=len(idx),
                        accuracy=unit({lb: f[idx] for lb, f in pool_f.items()},
                                      pool.labels[idx], test_f, test.labels, pool.num_classes,
                                      classifiers, seed=split))
        store.run("split%d" % split, work)
    return summarise(root)


def summarise(root):
    """The table of the splits done so far under ``root/probes`` (``results.json``) and the
    figure; returns the rows (None where nothing was run)."""
    path = os.path.join(root, "probes")
    proto, results = read(path)
    if proto is None:
        return None
    named = proto["layers"]                  # {label: name}: pixels, then layers 1, 2, ...
    layers = [(PIXELS, named[PIXELS])] + sorted(
        ((lb, n) for lb, n in named.items() if lb != PIXELS), key=lambda t: int(t[0]))
    rows = table(results, layers, proto["classifiers"], 1.0 / len(proto["target_classes"]))
    write_json(os.path.join(path, "results.json"), {"protocol": proto, "rows": rows})
    figures.probe_curve(rows, os.path.join(path, "figures", "probes.png"),
                        "linear probes per layer (%s), k=%d per class, %d target classes, "
                        "%d of %d splits" % (proto["at"], proto["k_run"],
                                             len(proto["target_classes"]), len(results),
                                             proto["splits"]))
    return rows


def table(results, layers, classifiers, chance):
    rows = []
    for label, name in layers:
        for c in classifiers:
            m, s = mean_std([r["accuracy"][label][c] for r in results.values()])
            rows.append(dict(layer=label, name=name or "input", classifier=c, accuracy=m,
                             accuracy_std=s, splits=len(results), chance=chance))
    return rows
