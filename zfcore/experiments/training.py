"""Training and scoring one net of an experiment, through ``zfcore.trainer.fit`` and
``zfcore.evaluation`` (the same loop and the same test as ``python -m zfcore.train``).

A budget is a dict of ``fit``'s settings (``epochs``, ``batch_size``, ``lr``, ...) that every
unit of one experiment shares; ``steps_budget`` turns "about S steps" into epochs for a
training set of n images, for the k-per-class runs of Sec. 5.2 where n goes from a few images
to a few hundred.
"""
import math

import numpy as np

from zfcore.backend import to_numpy
from zfcore.evaluation import evaluate, predict
from zfcore.trainer import fit


def crop_of(net):
    return int(net.spec["input"][1])


def steps_budget(n, steps, batch_size, lr, **more):
    """``fit`` settings that take about ``steps`` SGD steps on ``n`` images: batch
    ``min(n, batch_size)``, whole epochs; no lr drop (the plateau rule needs a validation set
    these runs do not have)."""
    batch = max(1, min(n, batch_size))
    per_epoch = math.ceil(n / batch)
    return dict(more, epochs=max(1, math.ceil(steps / per_epoch)), batch_size=batch, lr=lr,
                max_lr_drops=0)


def train(net, train_ds, val_ds, budget, seed, overrides=None, frozen=None, device="numpy",
          callbacks=(), **more):
    """``fit`` with ``budget`` and then ``overrides`` (a variant's training changes), the data
    order and crops from ``seed``; ``more``: fit's other arguments (nothing is written without
    ``out_dir``). Returns the metrics rows."""
    settings = dict(budget)
    settings.update(overrides or {})
    settings.setdefault("patience", 2)
    return fit(net, train_ds, val_ds, seed=seed, device=device, frozen=frozen,
               callbacks=callbacks, **settings, **more)


def errors(net, ds, device="numpy"):
    """{'top1', 'top5'} error of the centre crop (``zfcore.evaluation.evaluate``)."""
    return evaluate(net, ds, crop_of(net), device=device)


def per_class_accuracy(net, ds, device="numpy"):
    """Mean over classes of the share of each class's images classified right (the Caltech
    protocol of Z&F Sec. 5.2), from the centre crop."""
    probs = predict(net, ds, crop_of(net), device=device)
    return mean_class_accuracy(probs.argmax(axis=1), ds.labels, ds.num_classes)


def mean_class_accuracy(predicted, labels, num_classes):
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    accs = [float((predicted[labels == c] == c).mean()) for c in range(num_classes)
            if (labels == c).any()]
    return float(np.mean(accs)) if accs else float("nan")


def layer1_filters(net):
    """The first conv layer's filters (C_out, C_in, k, k), on the host."""
    from zfcore.experiments.specs import weighted_layers
    return to_numpy(net.params()["%s.W" % weighted_layers(net.spec)[0]])


def strongest_share(W):
    """The share of the layer's energy (sum of squared weights) held by its strongest filter:
    1/C_out when all are equal, near 1 when "one feature dominates" (Z&F Sec. 3, Fig. 6a)."""
    energy = (np.asarray(W, np.float64).reshape(len(W), -1) ** 2).sum(axis=1)
    return float(energy.max() / energy.sum()) if energy.sum() > 0 else float("nan")


def mean_std(values):
    """(mean, standard deviation with ddof=1, or 0 for one value) of finite values."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], np.float64)
    if not len(v):
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
