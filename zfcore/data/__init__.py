"""The data pipeline: datasets decoded to uint8 NHWC, and mini-batches for the net (Z&F Sec. 3).

    ds = open_dataset(source, split, size=None, seed=0, n=None)
    for x, y in batches(ds, 128, crop=56, train=True, seed=0, epoch=e): ...
    x10 = ten_crop(images, ds.mean, crop)      # (B*10, 3, crop, crop): the 10-crop test

| source                           | module       | stored side (default) | val split              |
|----------------------------------|--------------|-----------------------|------------------------|
| ``'synthetic'``                  | synthetic.py | 64                    | its own seed stream    |
| folder ``root/<class>/<image>``  | folder.py    | 256 (short side,      | 1/10 of each class     |
|                                  |              | centre crop)          | (or ``root/val``)      |
| CIFAR-10 python batches          | cifar.py     | 32                    | last 1/10 of train     |
| MNIST / Fashion-MNIST idx files  | mnist.py     | 32 (28 zero-padded)   | last 1/10 of train     |
| a packed ``.h5``                 | h5.py        | as packed             | its own file           |
| (``python -m zfcore.data pack``) |              |                       |                        |

A source may contain ``{split}`` (e.g. ``'packed/{split}.h5'``): the split's name is put there.
Every mistake (missing path, empty class folder, damaged file, unknown source, bad argument)
raises ``DataError`` with one line naming the file or argument.
"""
from zfcore.data.base import SPLITS, DataError, Dataset, take
from zfcore.data.crops import centre_crop, crop_at, ten_crop, ten_crop_positions
from zfcore.data.loader import batches, epoch_order, num_batches
from zfcore.data.packing import pack
from zfcore.data.sources import open_dataset, resolve

__all__ = ["open_dataset", "batches", "ten_crop", "centre_crop", "DataError", "Dataset", "take",
           "crop_at", "ten_crop_positions", "epoch_order", "num_batches", "pack", "SPLITS",
           "resolve"]
