"""Transfer (Sec. 5.2): layers 1-7 do not change while the new softmax trains (bit for bit),
and the pretrained run and the not-pretrained baseline are given the same k images."""
import numpy as np

from tests.experiments.tiny import random_images, spec5
from zfcore.experiments import transfer
from zfcore.experiments.splits import draw_per_class
from zfcore.models import build
from zfcore.trainer import Callback


class Watch(Callback):
    """What the trainer was given and what its net held before and after."""

    def on_train_start(self, trainer):
        self.before = {k: np.array(a, copy=True) for k, a in trainer.net.params().items()}
        self.seen = (transfer.fingerprint(trainer.train_ds), trainer.seed)
        self.steps = 0

    def on_step_end(self, trainer, stats):
        self.steps += 1

    def on_train_end(self, trainer):
        self.after = {k: np.array(a, copy=True) for k, a in trainer.net.params().items()}


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def run_arm(arm, source, train_ds, test_ds, split=0):
    w = Watch()
    r = transfer.unit(arm, source, train_ds, test_ds, k=4, split=split, steps=6, batch_size=4,
                      lr=0.05, callbacks=[w])
    return r, w


def test_layers_1_to_7_stay_bit_for_bit_and_the_softmax_trains():
    source = build(spec5(num_classes=5), seed=1)     # its weights stand for a pretrained net
    pool = random_images(60, 3, seed=0)
    train_ds = transfer.training_set(pool, 4, seed=0, split=0)
    r, w = run_arm("pretrained", source, train_ds, pool)
    assert w.steps >= 6 and r["steps"] == w.steps
    src = source.params()
    for key, a in w.after.items():
        if key.startswith("fc8."):
            assert not same_bits(a, w.before[key]), key            # the new softmax learned
            assert a.shape[0] == 3
        else:
            assert same_bits(a, w.before[key]), key
            assert same_bits(a, src[key]), key                     # and they are the source's
    # the control: trained end to end, the same layers do move
    _, w2 = run_arm("scratch", source, train_ds, pool)
    assert not same_bits(w2.after["conv1.W"], w2.before["conv1.W"])


def test_both_arms_see_the_same_k_images_and_the_splits_differ():
    source = build(spec5(num_classes=5), seed=1)
    pool = random_images(60, 3, seed=0)
    seen = {}
    for split in (0, 1):
        train_ds = transfer.training_set(pool, 4, seed=0, split=split)
        for arm in transfer.ARMS:
            r, w = run_arm(arm, source, train_ds, pool, split=split)
            seen[arm, split] = w.seen
            assert r["images"] == w.seen[0] and r["n_train"] == 12
    assert seen["pretrained", 0] == seen["scratch", 0]
    assert seen["pretrained", 1] == seen["scratch", 1]
    assert seen["pretrained", 0][0] != seen["pretrained", 1][0]


def test_k_images_per_class_nested_in_k_and_capped_by_what_a_class_has():
    labels = np.array([0] * 10 + [1] * 10 + [2] * 3)
    two, five = (draw_per_class(labels, k, seed=0, split=2) for k in (2, 5))
    assert set(two) <= set(five)
    assert np.bincount(labels[five]).tolist() == [5, 5, 3]
    assert np.bincount(labels[two]).tolist() == [2, 2, 2]
    assert not np.array_equal(draw_per_class(labels, 5, 0, 3), five)
