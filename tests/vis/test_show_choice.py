"""Which images the figures show (Z&F Fig. 5, 7 show images the net gets right): one per class,
correctly classified ones first, and classes with none of them only after those that have one."""
import numpy as np

from zfcore.vis.pipeline import _spread_classes


def test_classes_with_a_correct_image_come_first_and_each_shows_its_correct_one():
    labels = np.array([0, 1, 2, 0, 1, 2, 3, 3])
    right = np.array([False, False, True, False, True, False, False, True])
    # class 0 has no correct image; class 1's correct one is 4, class 2's is 2, class 3's is 7
    assert _spread_classes(labels, 3, right) == [4, 2, 7]
    assert _spread_classes(labels, 4, right) == [4, 2, 7, 0]
    chosen = _spread_classes(labels, 8, right)
    assert sorted(chosen) == list(range(8)) and chosen[:4] == [4, 2, 7, 0]


def test_without_a_preference_it_is_one_per_class_in_class_order():
    labels = np.array([2, 0, 1, 0, 2, 1])
    assert _spread_classes(labels, 3) == [1, 2, 0]
