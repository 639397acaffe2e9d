"""The training recipe of Z&F Sec. 3, derived from the architecture in one place.

    rec = recipe("zfnet_small", num_classes=12)   # spec, init, dropout and optimiser settings
    net = rec.build(seed=0)
    fit(net, train_ds, val_ds, **rec.training)     # zfcore.train.fit; its defaults are these,
                                                   # scaled to the data: training(arch, n_train)

The paper: SGD with momentum 0.9, batch 128, lr 1e-2 divided by 10 when the validation error
plateaus, weights N(0, 1e-2), biases 0, conv filters renormalised to RMS 0.1 after each update,
dropout 0.5 in fc6 and fc7. Weight decay is not given in the paper: Krizhevsky's 5e-4.

The small nets (``*_small``, ``*_small32``) depart from it in two places, because with the
paper's init and dropout they sit at chance for several epochs: He init (std sqrt(2 / fan_in))
with the 0..255 pixels scaled by 1/64 (about their std) as they enter the net, since He's rule
assumes unit-variance inputs; and no dropout. ``zfnet`` / ``alexnet`` keep the paper's.
``init`` and ``dropout`` override either choice (``init=0.01, dropout=0.5`` is the paper's
recipe on a small net).

The command line (``python -m zfcore.train``), ``bench/`` and the experiments all start here.
"""
import math
from dataclasses import dataclass, field

from zfcore.models import SPECS, build, spec_of

DEFAULT_ARCH = "zfnet_small"
HE_INPUT_SCALE = 1 / 64
# The optimiser and schedule of Z&F Sec. 3 (the same for every architecture here); ``epochs``
# is the budget of the default run (the small net on synthetic shapes).
TRAINING = dict(epochs=8, batch_size=128, lr=1e-2, momentum=0.9, weight_decay=5e-4,
                max_filter_rms=0.1, patience=2, max_lr_drops=3, anneal_by=None)
# How the defaults scale down to a small training set (a user's folder of a few hundred
# images): the batch is halved (not below MIN_BATCH) until an epoch has MIN_STEPS_PER_EPOCH
# steps, the run has at least MIN_STEPS steps, and the plateau rule waits at least
# PLATEAU_STEPS steps (in whole epochs) without a better validation error before it divides lr
# by 10, at most ``max_lr_drops`` times. The default run (10,000 images: 79 steps an epoch)
# keeps the paper's batch 128, its 8 epochs and patience 2.
MIN_BATCH, MIN_STEPS_PER_EPOCH, MIN_STEPS, PLATEAU_STEPS = 8, 10, 300, 100
# The 32x32 nets are for CIFAR-sized sets (45,000-54,000 training images), where at lr 1e-2 the
# validation error moves by about a point from epoch to epoch while the training loss still
# falls: with a patience of 2 epochs, CIFAR-10 had its lr divided at epoch 8 on such a blip, with
# the training loss still falling 5% an epoch, and stalled near 77% (bench/RESULTS.md, "CIFAR-10
# side by side"). They wait 4 epochs: what a person annealing by hand (the paper) would wait.
PATIENCE_32 = 4
# The price of that patience: at lr 1e-2 their val error can keep creeping down by a few images
# an epoch for the whole budget, so the plateau rule never fires, and the run ends unannealed
# (CIFAR-10 and Fashion-MNIST both reached epoch 20 of 30 at their first lr). A person annealing
# by hand would anneal before the budget ran out: with ``anneal_by`` the lr has been divided by
# 10 at least once by that fraction of the epochs (after epoch 20 of 30), plateau or not.
ANNEAL_BY_32 = 2 / 3


def is_small(arch):
    """True for the nets sized for a laptop CPU (64x64 and 32x32 inputs)."""
    return arch.endswith(("small", "small32"))


def parse_init(init):
    """'he' or a positive std (a number, or a string of one) -> 'he' or float; ValueError else."""
    if init == "he":
        return "he"
    try:
        std = float(init)
    except (TypeError, ValueError):
        raise ValueError("init must be 'he' or a positive std, got %r" % (init,)) from None
    if not (std > 0 and math.isfinite(std)):
        raise ValueError("init must be 'he' or a positive std, got %r" % (init,))
    return std


def training(arch=None, n_train=None, batch_size=None):
    """The optimiser and schedule settings for ``arch`` (a dict of ``TRAINING``'s keys); with
    ``n_train`` (the number of training images) the batch, epochs and patience scale with it
    (see ``MIN_STEPS``), the batch being ``batch_size`` when given."""
    out = dict(TRAINING)
    if arch is not None and arch.endswith("small32"):
        out["patience"], out["anneal_by"] = PATIENCE_32, ANNEAL_BY_32
    if not n_train:
        return out
    batch = batch_size or out["batch_size"]
    if batch_size is None:
        while batch > MIN_BATCH and math.ceil(n_train / batch) < MIN_STEPS_PER_EPOCH:
            batch //= 2
    steps = math.ceil(n_train / batch)
    out.update(batch_size=batch, epochs=max(out["epochs"], math.ceil(MIN_STEPS / steps)),
               patience=max(out["patience"], math.ceil(PLATEAU_STEPS / steps)))
    return out


def anneal_epoch(settings):
    """The epoch after which ``anneal_by`` divides lr if the plateau rule has not (None: never):
    ``ceil(anneal_by * epochs)``, before the last epoch."""
    by = settings.get("anneal_by")
    if not by:
        return None
    at = math.ceil(by * settings["epochs"] - 1e-9)      # 2/3 * 30 is 20.000000000000004
    return at if at < settings["epochs"] else None


def describe(settings, n_train, n_val, lr):
    """Two lines of the choices a run makes, e.g. '160 train / 20 val images: batch 16, 10 steps
    an epoch, 30 epochs (300 steps)' and 'lr 0.01, x0.1 after 10 epochs (100 steps) without a
    better val error, at most 3 times' (with ``anneal_by``: '; and after epoch 20 if not yet')."""
    steps = math.ceil(n_train / settings["batch_size"])
    p, anneal = settings["patience"], anneal_epoch(settings)
    return ("%d train / %d val images: batch %d, %d steps an epoch, %d epochs (%d steps)\n"
            "lr %g, x0.1 after %d epoch%s (%d steps) without a better val error, at most %d "
            "times" % (n_train, n_val, settings["batch_size"], steps, settings["epochs"],
                       steps * settings["epochs"], lr, p, "" if p == 1 else "s", p * steps,
                       settings.get("max_lr_drops", 3))
            + ("; and after epoch %d if not yet" % anneal if anneal else ""))


@dataclass
class Recipe:
    """What ``recipe()`` derives: ``spec`` (for ``zfcore.models.build``; init_std, input_scale
    and the dropout p are in it), the choices it made, and the ``training`` settings."""
    arch: str
    spec: dict
    init: object            # 'he' or the std of N(0, std^2)
    input_scale: float
    dropout: float
    training: dict = field(default_factory=dict)

    def build(self, seed=0):
        """A fresh ``Net`` of this recipe; every draw from ``seed`` (``zfcore.models.build``)."""
        return build(self.spec, seed=seed)


def recipe(arch=DEFAULT_ARCH, num_classes=1000, input_channels=3, init=None, dropout=None):
    """The recipe of ``arch`` for ``num_classes`` classes and ``input_channels``-channel images.

    init     None (the architecture's default: 'he' for the small nets, 0.01 otherwise), 'he',
             or a std; 'he' also scales the inputs by 1/64, a number keeps them in pixels
    dropout  None (0 for the small nets, 0.5 otherwise) or the p of every dropout layer
    """
    if arch not in SPECS:
        raise ValueError("unknown architecture %r (known: %s)" % (arch, ", ".join(sorted(SPECS))))
    if init is None:
        init = "he" if is_small(arch) else 0.01
    init = parse_init(init)
    if dropout is None:
        dropout = 0.0 if is_small(arch) else 0.5
    if not 0 <= dropout < 1:
        raise ValueError("dropout must be in [0, 1), got %r" % (dropout,))
    scale = HE_INPUT_SCALE if init == "he" else 1.0
    spec = spec_of(arch, num_classes, input_channels=input_channels, init_std=init,
                   input_scale=scale)
    for _, kind, layer_args in spec["layers"]:
        if kind == "dropout":
            layer_args["p"] = float(dropout)
    return Recipe(arch, spec, init, scale, float(dropout), training(arch))
