"""``python -m zfcore.data pack SRC OUT.h5 [--size S] [--split train] [--seed 0] [--n N]``

Decode one split of SRC (an image folder, CIFAR-10 or MNIST folder, or 'synthetic') once into an
HDF5 file for fast training reads; ``open_dataset('OUT.h5', split)`` reads it back. Pack each
split to its own file (e.g. ``data/train.h5``, ``data/val.h5``, then use ``data/{split}.h5``).
A mistake prints one line ``zfcore.data: error: ...`` and exits with status 2.
"""
import sys

from zfcore import cli
from zfcore.data import SPLITS, pack

PROG = "zfcore.data"


def main(argv=None):
    """``pack``; a mistake raises (DataError, UsageError, OSError), which ``cli.run`` prints as
    one line ``zfcore.data: error: ...`` with exit 2 (130 on Ctrl-C, nothing written)."""
    parser = cli.ArgumentParser(prog="python -m zfcore.data", description="zfcore data tools")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="decode one split of a dataset into an HDF5 file")
    p.add_argument("src", help="'synthetic', an image folder root/<class>/<image>, a CIFAR-10 "
                               "python folder or an MNIST idx folder")
    p.add_argument("out", help="the .h5 file to write (replaced only once complete)")
    p.add_argument("--size", type=int, default=None,
                   help="stored image side (default 256 folders, 64 synthetic, 32 CIFAR/MNIST)")
    p.add_argument("--split", choices=SPLITS, default="train")
    p.add_argument("--seed", type=int, default=0, help="synthetic only")
    p.add_argument("--n", type=int, default=None, help="number of images (default: all)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        with cli.writing(args.out):    # the output side: disk full, permissions
            count = pack(args.src, args.out, size=args.size, split=args.split, seed=args.seed,
                         n=args.n, progress=not args.quiet)
    except KeyboardInterrupt:
        raise KeyboardInterrupt("%s not written" % args.out) from None
    print("wrote %s: %d images (%s split)" % (args.out, count, args.split))
    return 0


if __name__ == "__main__":
    cli.run(main, sys.argv[1:], prog=PROG)
