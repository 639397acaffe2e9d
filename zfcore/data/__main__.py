"""``python -m zfcore.data download cifar10|mnist|fashion-mnist [--root DIR] [--quiet]``
``python -m zfcore.data pack SRC OUT.h5 [--size S] [--split train] [--seed 0] [--n N]``

``download`` fetches a dataset from its publisher, checks the publisher's md5 and unpacks it into
ROOT/<name> (ROOT: --root, else $ZFCORE_DATA, else the per-user cache, e.g. ~/.cache/zfcore);
``--data cifar10`` then finds it everywhere (``zfcore.data.download``). A failed download prints
one line ``zfcore.data: error: ...``, exits 1 and keeps nothing.

``pack`` decodes one split of SRC (an image folder, CIFAR-10 or MNIST folder, or 'synthetic')
once into an HDF5 file for fast training reads; ``open_dataset('OUT.h5', split)`` reads it back.
Pack each split to its own file (e.g. ``data/train.h5``, ``data/val.h5``, then use
``data/{split}.h5``).
A mistake prints one line ``zfcore.data: error: ...`` and exits with status 2.
"""
import os
import sys

from zfcore import cli
from zfcore.data import SPLITS, download, pack

PROG = "zfcore.data"


def main(argv=None):
    """``download`` or ``pack``; a mistake raises (DataError, UsageError, OSError), which
    ``cli.run`` prints as one line ``zfcore.data: error: ...`` with exit 2 (130 on Ctrl-C,
    nothing written); a failed download prints the same kind of line and returns 1."""
    parser = cli.ArgumentParser(prog="python -m zfcore.data", description="zfcore data tools")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("download", help="fetch CIFAR-10, MNIST or Fashion-MNIST from its "
                                        "publisher (checksums verified)")
    d.add_argument("name", choices=download.NAMES)
    d.add_argument("--root", default=None,
                   help="the data root: the dataset goes to ROOT/<name> (default $%s, else the "
                        "per-user cache folder, e.g. ~/.cache/zfcore)" % download.ROOT_ENV)
    d.add_argument("--quiet", action="store_true", help="no progress bar")
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
    if args.command == "download":
        return _download(args)
    try:
        with cli.writing(args.out):    # the output side: disk full, permissions
            count = pack(args.src, args.out, size=args.size, split=args.split, seed=args.seed,
                         n=args.n, progress=not args.quiet)
    except KeyboardInterrupt:
        raise KeyboardInterrupt("%s not written" % args.out) from None
    print("wrote %s: %d images (%s split)" % (args.out, count, args.split))
    return 0


def _download(args):
    try:
        with cli.writing(args.root or download.default_root()):
            folder = download.download(args.name, args.root, progress=not args.quiet)
    except download.DownloadError as e:      # network, server, checksum: try again later
        print("%s: error: %s" % (PROG, cli.first_line(e)), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        raise KeyboardInterrupt("%s not downloaded, nothing kept" % args.name) from None
    root = os.path.dirname(folder)
    if root == download.default_root():
        print("%s: ready in %s (use --data %s)" % (args.name, folder, args.name))
    else:
        print("%s: ready in %s (use --data %s, or set %s=%s and use --data %s)"
              % (args.name, folder, folder, download.ROOT_ENV, root, args.name))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main, sys.argv[1:], prog=PROG))
