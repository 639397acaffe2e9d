"""What every experiment shares: the data, its split by class, the base architecture.

The synthetic default is sized for a small CPU: the shapes at 32x32, the 32x32 ZF net at half
width (``width=0.5``: 16, 32, 48, 48, 32 maps, 128 units in fc6 and fc7), the first six shapes
as source classes and the other six as target classes. ``data`` may be any source
``zfcore.data.open_dataset`` reads (CIFAR-10: the first five classes as source, the other
five as target).
"""
from dataclasses import asdict, dataclass, field

from zfcore.data import resolve
from zfcore.experiments import splits
from zfcore.experiments.specs import scale_widths
from zfcore.models import SPECS
from zfcore.recipe import recipe

DEFAULT_ARCH, DEFAULT_WIDTH = "zfnet_small32", 0.5


def base_spec(arch, width, num_classes):
    """The base net: the architecture's recipe for ``num_classes``, every hidden layer's width
    times ``width``."""
    return scale_widths(recipe(arch, num_classes).spec, width)


@dataclass
class Setup:
    data: str = "synthetic"
    arch: str = DEFAULT_ARCH
    width: float = DEFAULT_WIDTH
    size: int = None                    # the net's input side (default: the architecture's)
    data_seed: int = 0                  # synthetic only: the seed its images are drawn from
    source_classes: list = field(default_factory=list)
    target_classes: list = field(default_factory=list)
    device: str = "numpy"

    def __post_init__(self):
        self.size = int(self.size or SPECS[self.arch]["input"][1])
        names = splits.class_names(self.data, size=self._size(), seed=self.data_seed)
        self.source_classes, self.target_classes = splits.split_classes(
            names, self.source_classes, self.target_classes)

    def _size(self):
        """The side to store images at: ``size`` for synthetic, ``size`` x 256/224 for an image
        folder (the net crops ``size``, Z&F Sec. 3), what the file holds for the others."""
        kind = resolve(self.data, "train")[0]
        if kind == "synthetic":
            return self.size
        return int(round(self.size * 256 / 224)) if kind == "folder" else None

    def base_spec(self, num_classes):
        """The base net (the architecture's recipe, at ``width``) for ``num_classes``."""
        return base_spec(self.arch, self.width, num_classes)

    def open(self, split, classes, per_class=None, mean=None):
        """The images of ``classes`` in ``split`` (``splits.open_classes``)."""
        return splits.open_classes(self.data, split, classes, per_class=per_class,
                                   size=self._size(), seed=self.data_seed, mean=mean)

    def protocol(self):
        """The part of every protocol that describes the data and the net."""
        out = asdict(self)
        out.pop("device")
        return out
