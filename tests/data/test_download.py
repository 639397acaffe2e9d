"""``python -m zfcore.data download``: against a real HTTP server on 127.0.0.1 (a thread started
here) serving archives built here, in the official layouts. The test points the module's source
table at that server and at the md5s of those archives (the official URLs and md5s stay the
defaults)."""
import dataclasses
import hashlib
import http.server
import io
import os
import pathlib
import socket
import struct
import tarfile
import threading

import numpy as np
import pytest

from zfcore import cli
from zfcore.data import DataError, download, open_dataset
from zfcore.data.__main__ import main
from zfcore.data.mnist import FASHION

from .conftest import cifar_images, make_cifar, make_mnist, mnist_images


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        server.requests.append(self.path)
        if self.path not in server.files:
            self.send_error(404)
            return
        body, how = server.files[self.path]
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if how == "ok":
            self.wfile.write(body)
            return
        self.wfile.write(body[:len(body) // 2])
        self.wfile.flush()
        if how == "truncate":              # fewer bytes than announced, then a clean close
            self.close_connection = True
            return
        # "vanish": the server goes away mid-file: no more connections, this one reset
        server.shutdown()
        server.server_close()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()


class Server(http.server.ThreadingHTTPServer):
    """{url path: (bytes, how)}; how: 'ok', 'truncate' (half the bytes of the Content-Length it
    sends, then it closes), 'vanish' (half the bytes, then the server shuts down and resets the
    connection). ``requests``: the paths asked for, in order."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files, self.requests = {}, []
        self.url = "http://127.0.0.1:%d" % self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def serve(self, path, body, how="ok"):
        self.files[path] = (body, how)


@pytest.fixture
def server():
    s = Server()
    yield s
    s.shutdown()
    s.server_close()


@pytest.fixture
def root(tmp_path, monkeypatch):
    """The data root (``$ZFCORE_DATA``), empty; no mirror override, no proxy for 127.0.0.1."""
    r = tmp_path / "root"
    monkeypatch.setenv("ZFCORE_DATA", str(r))
    monkeypatch.delenv("ZFCORE_DATA_MIRROR", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setattr(download, "TIMEOUT", 10)
    return r


def md5(data):
    return hashlib.md5(data).hexdigest()


def cifar_archive(tmp_path, extra=None):
    """A tiny cifar-10-python.tar.gz: cifar-10-batches-py/ with the seven batch files (10 images
    each, conftest's pixel pattern) and a readme.html, as the official archive holds them."""
    folder = make_cifar(tmp_path / "build" / "cifar-10-batches-py")
    with open(os.path.join(folder, "readme.html"), "w") as f:
        f.write("<html></html>")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
        if extra:
            info = tarfile.TarInfo(extra)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
    return buf.getvalue()


def idx_files(tmp_path, name):
    """The four gz idx files (20 train, 10 test images), {file name: bytes}."""
    folder = make_mnist(tmp_path / ("build-" + name))
    return {f: pathlib.Path(folder, f + ".gz").read_bytes()
            for f in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                      "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def point_at(monkeypatch, name, server, files, prefix="/files/", mirrors=None):
    """Serve ``files`` {file name: (bytes, how)} and point ``SOURCES[name]`` at the server, with
    the md5s of the good bytes."""
    table = []
    for fname, (body, how, good) in files.items():
        server.serve(prefix + fname, body, how)
        table.append((fname, md5(good)))
    src = dataclasses.replace(download.SOURCES[name], files=tuple(table),
                              mirrors=mirrors or (server.url + prefix,))
    monkeypatch.setitem(download.SOURCES, name, src)


def run(argv, capsys):
    """``python -m zfcore.data ARGV`` in-process: (exit status, stdout, stderr)."""
    try:
        code = cli.run(main, argv, prog="zfcore.data")
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cifar10_downloads_then_data_cifar10_finds_it_and_is_not_fetched_again(
        tmp_path, root, server, monkeypatch, capsys):
    archive = cifar_archive(tmp_path)
    point_at(monkeypatch, "cifar10", server,
             {"cifar-10-python.tar.gz": (archive, "ok", archive)})
    code, out, err = run(["download", "cifar10"], capsys)
    assert code == 0, err
    assert sorted(os.listdir(root)) == ["cifar10"]            # no staging folder, no archive
    assert "100% of" in out and "ready in %s" % (root / "cifar10") in out
    assert sorted(os.listdir(root / "cifar10")) == sorted(download.SOURCES["cifar10"].contents
                                                          + ("readme.html",))
    ds = open_dataset("cifar10", "test")                      # what --data cifar10 does
    assert ds.name == "cifar10" and ds.class_names[0] == "airplane"
    np.testing.assert_array_equal(ds.images, cifar_images(10, 500).transpose(0, 2, 3, 1))
    code, out, err = run(["pack", "cifar10", str(tmp_path / "t.h5"), "--split", "test",
                          "--quiet"], capsys)
    assert code == 0 and "10 images" in out, err
    asked = len(server.requests)
    code, out, err = run(["download", "cifar10"], capsys)
    assert code == 0 and "not fetched again" in out and len(server.requests) == asked


def test_mnist_and_fashion_mnist_download_through_a_second_mirror(
        tmp_path, root, server, monkeypatch, capsys):
    for name in ("mnist", "fashion-mnist"):
        files = {f + ".gz": (b, "ok", b) for f, b in idx_files(tmp_path, name).items()}
        point_at(monkeypatch, name, server, files, prefix="/%s/" % name,
                 mirrors=(server.url + "/gone/", server.url + "/%s/" % name))
        code, out, err = run(["download", name, "--quiet"], capsys)
        assert code == 0, err
        assert "fetching" in out and "100% of" not in out     # --quiet: no progress lines
    assert sorted(os.listdir(root)) == ["fashion-mnist", "mnist"]
    assert sum(p.startswith("/gone/") for p in server.requests) == 8     # the 404 first
    digits, fashion = open_dataset("mnist", "test"), open_dataset("fashion-mnist", "test")
    assert digits.class_names[3] == "3" and fashion.class_names == FASHION
    np.testing.assert_array_equal(fashion.images[:, 2:30, 2:30, 0], mnist_images(10, 1000))


def test_the_mirror_variable_replaces_the_servers(tmp_path, root, server, monkeypatch, capsys):
    """``$ZFCORE_DATA_MIRROR``: the files from there, the table's md5s still checked; a mirror
    that is not a URL is one line too, not a checksum complaint."""
    files = {f + ".gz": (b, "ok", b) for f, b in idx_files(tmp_path, "mnist").items()}
    point_at(monkeypatch, "mnist", server, files, prefix="/m/",
             mirrors=("http://127.0.0.1:1/never/",))
    monkeypatch.setenv("ZFCORE_DATA_MIRROR", "not-a-url")
    code, out, err = run(["download", "mnist", "--quiet"], capsys)
    assert code == 1 and "not-a-url/train-images-idx3-ubyte.gz: Invalid URL" in err
    assert "md5" not in err and len(err.splitlines()) == 1
    monkeypatch.setenv("ZFCORE_DATA_MIRROR", server.url + "/m")
    code, out, err = run(["download", "mnist", "--quiet"], capsys)
    assert code == 0 and out.count("fetching %s/m/" % server.url) == 4, err
    assert len(open_dataset("mnist", "train")) == 18


def assert_failed_cleanly(name, code, err, root, *words):
    """One line ``zfcore.data: error: ...`` holding ``words``, exit 1, the root empty, and
    ``--data NAME`` still says which command fetches it."""
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert lines[0].startswith("zfcore.data: error: ")
    for w in words:
        assert w in lines[0], lines[0]
    assert not os.path.exists(root) or os.listdir(root) == []     # nothing half-written
    with pytest.raises(DataError, match="fetch it with: python -m zfcore.data download"):
        open_dataset(name, "test")


def test_a_bad_checksum_keeps_nothing(tmp_path, root, server, monkeypatch, capsys):
    archive = cifar_archive(tmp_path)
    damaged = archive[:100] + bytes([archive[100] ^ 1]) + archive[101:]
    point_at(monkeypatch, "cifar10", server,
             {"cifar-10-python.tar.gz": (damaged, "ok", archive)})
    code, out, err = run(["download", "cifar10"], capsys)
    assert_failed_cleanly("cifar10", code, err, root, "cifar-10-python.tar.gz",
                          "md5 %s" % md5(damaged), "the publisher's is %s" % md5(archive))


def test_a_truncated_transfer_keeps_nothing(tmp_path, root, server, monkeypatch, capsys):
    archive = cifar_archive(tmp_path)
    point_at(monkeypatch, "cifar10", server,
             {"cifar-10-python.tar.gz": (archive, "truncate", archive)})
    code, out, err = run(["download", "cifar10"], capsys)
    assert_failed_cleanly("cifar10", code, err, root,
                          "broke off after %d bytes" % (len(archive) // 2))


def test_a_server_that_disappears_mid_way_keeps_nothing(tmp_path, root, server, monkeypatch,
                                                        capsys):
    """The second of the four MNIST files: the first is complete and verified, but the dataset is
    not, so it goes too."""
    files = {f + ".gz": (b, "vanish" if i == 1 else "ok", b)
             for i, (f, b) in enumerate(idx_files(tmp_path, "mnist").items())}
    point_at(monkeypatch, "mnist", server, files)
    code, out, err = run(["download", "mnist"], capsys)
    assert_failed_cleanly("mnist", code, err, root, "train-labels-idx1-ubyte.gz", "broke off")
    assert len(server.requests) == 2
    with pytest.raises(OSError):                           # it is gone: connections refused
        socket.create_connection(server.server_address, timeout=2).close()


def test_an_archive_member_outside_its_folder_is_refused(tmp_path, root, server, monkeypatch,
                                                         capsys):
    archive = cifar_archive(tmp_path, extra="cifar-10-batches-py/../../escaped")
    point_at(monkeypatch, "cifar10", server,
             {"cifar-10-python.tar.gz": (archive, "ok", archive)})
    code, out, err = run(["download", "cifar10"], capsys)
    assert_failed_cleanly("cifar10", code, err, root, "unexpected member", "escaped")
    assert not any("escaped" in f for _, _, fs in os.walk(tmp_path) for f in fs)


def test_ctrl_c_mid_download_keeps_nothing(tmp_path, root, server, monkeypatch):
    archive = cifar_archive(tmp_path) * 3             # md5 of these bytes: a valid download
    point_at(monkeypatch, "cifar10", server,
             {"cifar-10-python.tar.gz": (archive, "ok", archive)})
    monkeypatch.setattr(download, "CHUNK", 1024)

    def say(line):
        if "50%" in line:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        download.download("cifar10", progress=True, say=say)
    assert os.listdir(root) == []


def test_a_killed_downloads_staging_folder_goes_at_the_next_download(
        tmp_path, root, server, monkeypatch, capsys):
    """A download killed with SIGKILL leaves its staging folder; the next download of that
    dataset removes it, and leaves alone the one of a process still running."""
    import subprocess
    import sys
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    os.makedirs(root)
    dead = root / (download._staging_prefix("cifar10", gone.pid) + "abc")
    live = root / (download._staging_prefix("cifar10", os.getpid()) + "def")
    for folder in (dead, live):
        os.makedirs(folder / "downloads")
        (folder / "downloads" / "cifar-10-python.tar.gz").write_bytes(b"half")
    archive = cifar_archive(tmp_path)
    point_at(monkeypatch, "cifar10", server,
             {"cifar-10-python.tar.gz": (archive, "ok", archive)})
    code, out, err = run(["download", "cifar10"], capsys)
    assert code == 0, err
    assert sorted(os.listdir(root)) == sorted(["cifar10", live.name])


def test_not_downloaded_and_incomplete_folders_say_which_command_fetches_them(root, capsys):
    with pytest.raises(DataError) as e:
        open_dataset("fashion-mnist", "train")
    assert str(e.value) == ("fashion-mnist: not downloaded (no %s); fetch it with: python -m "
                            "zfcore.data download fashion-mnist" % (root / "fashion-mnist"))
    os.makedirs(root / "cifar10")
    (root / "cifar10" / "data_batch_1").write_bytes(b"")
    with pytest.raises(DataError, match="has no data_batch_2; remove that folder"):
        open_dataset("cifar10", "train")
    code, out, err = run(["download", "cifar10"], capsys)
    assert code == 2 and "incomplete (no data_batch_2)" in err and len(err.splitlines()) == 1
    assert os.listdir(root / "cifar10") == ["data_batch_1"]      # the user's folder is left alone
