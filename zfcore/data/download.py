"""Fetch CIFAR-10, MNIST and Fashion-MNIST from their publishers, as torchvision and Keras do:

    python -m zfcore.data download cifar10 | mnist | fashion-mnist [--root DIR]
    python -m zfcore.train --data cifar10             # then every command finds it by name

``pooch`` streams each file to a temporary name and keeps it only once its md5 is the one the
publisher gives; the dataset is unpacked in a hidden staging folder inside the root, and renamed
to ``ROOT/<name>`` only when it is complete, so a folder ``ROOT/<name>`` is always a whole
dataset. Any failure (bad checksum, a transfer cut short, a server gone, Ctrl-C, a full disk)
removes the staging folder: nothing half-written stays. A dataset already there is not fetched
again.

ROOT is ``--root``, else ``$ZFCORE_DATA``, else the per-user cache (``pooch.os_cache('zfcore')``,
e.g. ``~/.cache/zfcore``). ``$ZFCORE_DATA_MIRROR`` (a base URL serving the same file names)
replaces the publishers' servers; the checksums stay the publishers'. Tests replace the
``SOURCES`` table itself.
"""
import contextlib
import dataclasses
import errno
import gzip
import os
import re
import shutil
import socket
import sys
import tarfile
import tempfile
import zlib

from zfcore.data import cifar
from zfcore.data.base import DataError

ROOT_ENV = "ZFCORE_DATA"
MIRROR_ENV = "ZFCORE_DATA_MIRROR"
TIMEOUT = 60                     # seconds without an answer (connect, or between two reads)
CHUNK = 1 << 16


class DownloadError(DataError):
    """A download that did not give the publisher's file (network, server, checksum, archive);
    nothing of it is kept. ``python -m zfcore.data download`` exits 1 on it."""


@dataclasses.dataclass(frozen=True)
class Source:
    """One dataset: the files to fetch (name, md5), the servers tried in order, the files the
    finished folder holds, and how to get them from the downloads ('tar': extract the one archive,
    whose members all lie under ``top``; 'files': the downloads themselves)."""
    name: str
    files: tuple
    mirrors: tuple
    contents: tuple
    unpack: str = "files"
    top: str = ""


_IDX = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz")

SOURCES = {
    # md5 of the archive as published on https://www.cs.toronto.edu/~kriz/cifar.html (also
    # torchvision.datasets.CIFAR10.tgz_md5)
    "cifar10": Source(
        "cifar10", (("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
        ("https://www.cs.toronto.edu/~kriz/",), tuple(cifar.FILES), "tar", "cifar-10-batches-py"),
    # mirrors and md5s of torchvision.datasets.MNIST (torchvision/datasets/mnist.py): the
    # PyTorch CI copy first, as torchvision now does (LeCun's page often refuses scripted
    # downloads), then the original page
    "mnist": Source(
        "mnist", tuple(zip(_IDX, ("f68b3c2dcbeaaa9fbdd348bbdeb94873",
                                  "d53e105ee54ea40749a09fcbcd1e9432",
                                  "9fb629c4189551a2d022fa330f9573f3",
                                  "ec29112dd5afa0611ce80d1b7f02629c"))),
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        _IDX),
    # the publisher's server and md5s, as in the table of github.com/zalandoresearch/fashion-mnist
    # and torchvision.datasets.FashionMNIST; the folder's name tells mnist.py the class names
    "fashion-mnist": Source(
        "fashion-mnist", tuple(zip(_IDX, ("8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                                          "25c81989df183df01b3e8a0aad5dffbe",
                                          "bef4ecab320f06d8554ea6380940ec79",
                                          "bb300cfdad3c16e7a12a480ee83cd310"))),
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",), _IDX),
}
NAMES = tuple(SOURCES)


def fetch_command(name):
    return "python -m zfcore.data download %s" % name


def default_root():
    """``$ZFCORE_DATA``, else the per-user cache folder ``pooch.os_cache('zfcore')``."""
    if os.environ.get(ROOT_ENV):
        return os.path.abspath(os.path.expanduser(os.environ[ROOT_ENV]))
    try:
        import pooch
    except ImportError:
        raise DataError("the data root: set %s, or install pooch (pip install pooch) for the "
                        "default cache folder" % ROOT_ENV) from None
    return str(pooch.os_cache("zfcore"))


def _source(name):
    if name not in SOURCES:
        raise DataError("dataset %r: expected one of %s" % (name, ", ".join(NAMES)))
    return SOURCES[name]


def _missing(src, folder):
    return [f for f in src.contents if not os.path.isfile(os.path.join(folder, f))]


def installed(name, root=None):
    """The folder of a downloaded dataset (``ROOT/<name>``). Raises DataError, one line saying
    which command fetches it, when it is not there or not whole."""
    src = _source(name)
    folder = os.path.join(root or default_root(), src.name)
    if not os.path.isdir(folder):
        raise DataError("%s: not downloaded (no %s); fetch it with: %s"
                        % (name, folder, fetch_command(name)))
    lacking = _missing(src, folder)
    if lacking:
        raise DataError("%s: %s has no %s; remove that folder, then: %s"
                        % (name, folder, lacking[0], fetch_command(name)))
    return folder


def download(name, root=None, progress=True, say=print):
    """Fetch, verify and unpack one dataset into ``ROOT/<name>``; return that folder. Does nothing
    (but say so) when it is already there. Raises DownloadError for a failed download, DataError
    for an unknown name or an incomplete folder in the way, OSError for the root itself."""
    src = _source(name)
    root = os.path.abspath(os.path.expanduser(root or default_root()))
    target = os.path.join(root, src.name)
    if os.path.isdir(target):
        lacking = _missing(src, target)
        if lacking:
            raise DataError("%s: incomplete (no %s); remove that folder and run the command "
                            "again" % (target, lacking[0]))
        say("%s: already in %s (not fetched again)" % (name, target))
        return target
    if os.path.lexists(target):
        raise DataError("%s: exists and is not a folder" % target)
    os.makedirs(root, exist_ok=True)
    _remove_stale_staging(root, src.name)
    staging = tempfile.mkdtemp(prefix=_staging_prefix(src.name, os.getpid()), dir=root)
    try:
        fetched = os.path.join(staging, "downloads" if src.unpack == "tar" else src.name)
        for fname, md5 in src.files:
            _fetch(fname, md5, _mirrors(src), fetched, progress, say)
        folder = _extract(src, os.path.join(fetched, src.files[0][0]), staging) \
            if src.unpack == "tar" else fetched
        lacking = _missing(src, folder)
        if lacking:
            raise DownloadError("%s: the download has no %s" % (name, lacking[0]))
        _sync(folder)
        try:
            os.rename(folder, target)          # the one step that makes ROOT/<name> appear
        except OSError:
            if os.path.isdir(target) and not _missing(src, target):
                return target                  # another process finished the same download
            raise
        _sync_dir(root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _staging_prefix(name, pid):
    """``.<name>.partial-<host>-<pid>-``: the staging folder of a download in progress, named
    after the process that owns it."""
    return ".%s.partial-%s-%d-" % (name, socket.gethostname(), pid)


def _remove_stale_staging(root, name):
    """Remove the staging folders of downloads of ``name`` whose process is gone (killed with no
    chance to clean up: SIGKILL, a power cut) on this host; another host's, or a live process's,
    are left alone."""
    pattern = re.compile(r"^\.%s\.partial-%s-(\d+)-" % (re.escape(name),
                                                      re.escape(socket.gethostname())))
    for entry in os.listdir(root):
        m = pattern.match(entry)
        if m and not _alive(int(m.group(1))):
            shutil.rmtree(os.path.join(root, entry), ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:            # somebody else's process: alive
        return True
    return True


def _mirrors(src):
    override = os.environ.get(MIRROR_ENV)
    return (override,) if override else src.mirrors


def _fetch(fname, md5, mirrors, folder, progress, say):
    """One file into ``folder``, from the first mirror that gives it with the right md5."""
    import pooch
    import requests
    errors = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + fname
        say("fetching %s" % url)
        bar = _progress_bar(fname, say) if progress else False
        downloader = pooch.HTTPDownloader(progressbar=bar, chunk_size=CHUNK, timeout=TIMEOUT)
        try:
            with _quiet_pooch():
                pooch.retrieve(url, known_hash="md5:" + md5, fname=fname, path=folder,
                               downloader=downloader)
            return
        except requests.RequestException as e:   # before ValueError: a bad URL is both
            errors.append("%s: %s" % (url, _network_reason(e)))
        except ValueError as e:        # pooch: the md5 does not match (the file is deleted)
            got = re.search(r"but got (\w+)", str(e))
            errors.append("%s: md5 %s, the publisher's is %s (a damaged or different file)"
                          % (url, got.group(1) if got else "differs", md5))
        finally:
            if bar:
                bar.close()
    raise DownloadError("%s not fetched, nothing kept: %s" % (fname, "; ".join(errors)))


def _network_reason(e):
    """A requests exception as a few words (its own message nests three libraries deep)."""
    import requests
    text = str(e)
    if isinstance(e, requests.HTTPError) and e.response is not None:
        return "HTTP %d %s" % (e.response.status_code, e.response.reason or "")
    if isinstance(e, requests.Timeout):
        return "no answer within %d s" % TIMEOUT
    cause = re.search(r"\[Errno -?\d+\] ([^'\"\])]+)", text) or re.search(
        r"(Connection reset by peer|Remote end closed connection without response)", text)
    short = re.search(r"IncompleteRead\((\d+) bytes read, (\d+) more expected", text)
    if isinstance(e, (requests.exceptions.ChunkedEncodingError,
                      requests.exceptions.ContentDecodingError)):
        if short:
            return "the transfer broke off after %s bytes, %s more were announced" % short.groups()
        return "the transfer broke off before the end%s" % (
            " (%s)" % cause.group(1).strip() if cause else "")
    if isinstance(e, requests.ConnectionError):
        return "no connection (%s)" % (cause.group(1).strip() if cause else "the server is "
                                                                             "unreachable")
    return text.splitlines()[0] if text else type(e).__name__


@contextlib.contextmanager
def _quiet_pooch():
    """pooch logs 'Downloading data from ...' itself; the command says it once, its own way."""
    import logging

    import pooch
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _progress_bar(fname, say):
    """A tqdm bar on a terminal, plain lines every 10% otherwise (pooch's progress protocol)."""
    return _Bar(fname) if sys.stderr.isatty() else _Lines(fname, say)


class _Bar:
    """pooch's progress protocol on a tqdm bar, made once pooch sets ``total`` (a tqdm made
    earlier, with no total, is false to pooch's ``if progressbar:`` and never updated)."""

    def __init__(self, label):
        self.label, self.bar = label, None

    @property
    def total(self):
        return self.bar.total if self.bar is not None else 0

    @total.setter
    def total(self, n):
        from tqdm import tqdm
        self.bar = tqdm(total=n or None, desc=self.label, unit="B", unit_scale=True,
                        unit_divisor=1024, file=sys.stderr, leave=True)

    def update(self, n):
        if self.bar is not None:
            self.bar.update(min(n, self.bar.total - self.bar.n) if self.bar.total else n)

    def reset(self):
        if self.bar is not None:
            self.bar.reset()

    def close(self):
        if self.bar is not None:
            self.bar.close()


class _Lines:
    """pooch's progress-bar protocol (``total``, ``update``, ``reset``, ``close``) as one line per
    tenth of the file (or per 10 MB when the server gives no length)."""

    def __init__(self, label, say):
        self.label, self.say, self.total, self.done, self.shown = label, say, 0, 0, 0

    def update(self, n):
        self.done += n
        if self.total:
            tenths = min(10, self.done * 10 // self.total)
            while self.shown < tenths:
                self.shown += 1
                self.say("  %s: %3d%% of %s" % (self.label, 10 * self.shown, _size(self.total)))
        elif self.done // 10 ** 7 > self.shown:
            self.shown = self.done // 10 ** 7
            self.say("  %s: %s" % (self.label, _size(self.done)))

    def reset(self):
        self.done = 0

    def close(self):
        pass


def _size(n):
    return "%.1f MB" % (n / 1e6) if n >= 1e5 else "%d bytes" % n


def _extract(src, archive, staging):
    """The archive's ``top`` folder, extracted under ``staging``. Refuses members that are not
    plain files or folders under ``top`` (absolute paths, '..', links, devices)."""
    into = os.path.join(staging, "extracted")
    name = os.path.basename(archive)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            for m in members:
                parts = m.name.split("/")
                if (m.name.startswith("/") or ".." in parts or parts[0] != src.top
                        or not (m.isfile() or m.isdir())):
                    raise DownloadError("%s: unexpected member %r (expected only files under "
                                        "%s/); nothing kept" % (name, m.name, src.top))
            extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(into, members=members, **extra)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DownloadError("%s: damaged archive (%s); nothing kept" % (name, e)) from None
    return os.path.join(into, src.top)


def _sync(folder):
    """Flush every file of ``folder`` and the folder itself to disk before it is renamed into
    place, so that after a power cut ``ROOT/<name>`` is still whole or absent."""
    for f in os.listdir(folder):
        path = os.path.join(folder, f)
        if os.path.isfile(path):
            with open(path, "rb") as fh:
                _fsync(fh.fileno())
    _sync_dir(folder)


def _sync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        _fsync(fd)
    finally:
        os.close(fd)


def _fsync(fd):
    try:
        os.fsync(fd)
    except OSError as e:            # a file system or folder that cannot sync
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
