"""Data-parallel runs on MPI (mpi4py), with NCCL between GPUs: one module owns the communicator.

    mpiexec -n 4 python -m zfcore.train ...      # 4 ranks train one model

The pattern of ChainerMN (and of CuPy's ``cupyx.distributed``): every rank holds the whole net;
rank 0's weights are broadcast at the start and checked; each global batch of B images is cut
in N shards; the gradients are averaged by one all-reduce over a single flat buffer per step,
and every rank applies the same update. What the trainer and the analyses see:

    comm = world()                 # Single() without MPI (or without mpi4py): every call a no-op
    comm.rank, comm.size
    comm.allreduce_mean(flat)      # in place: the mean over ranks of one flat buffer
    comm.allreduce_sum(a)          # a small host array summed over ranks (exact for integers)
    comm.broadcast(arrays)         # rank 0's values into every rank's arrays, in place
    comm.check_same(named)         # raises DistributedError when the ranks' arrays differ
    comm.allgather(obj)            # [obj of rank 0, obj of rank 1, ...] (small Python objects)

On the CPU (``MPIComm``) the collectives are MPI's on host buffers. On the GPU
(``NCCLComm``, ``comm.for_device('cupy')``) the flat buffers stay on the device and go through
NCCL (``cupy.cuda.nccl``); MPI only hands the NCCL id from rank 0 to the others, and picks one
GPU per rank (its rank among the ranks of its host). The NCCL path is written against CuPy's
``NcclCommunicator`` and has not yet run on a machine with several GPUs.

A rank that dies or hangs must not leave the others waiting for ever. Two layers:

- a rank that stops on an error (Python exception, ``sys.exit``) ends the whole job:
  ``exit_world(code)`` calls ``MPI_Abort`` (the launcher stops every rank at once);
- every collective runs under a watchdog thread (``Watchdog``): past ``timeout`` seconds
  (``ZFCORE_MPI_TIMEOUT``, default 300) inside one collective, it pings every other rank on a
  communicator of its own, names the rank that does not answer (dead, or its host unreachable),
  has not reached the same collective (hung) or waits in another one (the ranks' paths
  differ), prints one line and aborts the job (exit 1).
  A rank killed outright is also caught by the launcher itself (MPICH's and Open MPI's mpiexec
  stop the job when a process dies on a signal).

Checkpoints are written by rank 0 only, through ``zfcore.atomic`` (a temporary file renamed),
so however a run ends, the last checkpoint is whole.
"""
import atexit
import contextlib
import os
import sys
import threading
import time
import zlib

import numpy as np

from zfcore.backend import xp_of

TIMEOUT_S = 300.0            # default: seconds one collective may take before the job stops
GRACE_S = 5.0                # how long the watchdog waits for the other ranks' answers
EXIT_PEER_FAILED = 1
# set by mpiexec / mpirun / srun in every process they start: the job's size (Open MPI; MPICH,
# Intel MPI and srun --mpi=pmi2; MVAPICH), or only the rank (PMIx: the size is asked of MPI)
LAUNCHER_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE")
LAUNCHER_RANK_VARS = ("PMIX_RANK",)

__all__ = ["world", "Single", "MPIComm", "NCCLComm", "DistributedError", "FlatBuffer",
           "shard_slice", "exit_world", "launched_size"]


class DistributedError(Exception):
    """The ranks of a run disagree or cannot run together (mpi4py missing under mpiexec,
    different weights); one line naming the ranks."""


def launched_size():
    """How many processes the launcher says it started: 1 when not under mpiexec, None when
    started by one that does not say (PMIx)."""
    for name in LAUNCHER_SIZE_VARS:
        v = os.environ.get(name, "")
        if v.isdigit():
            return int(v)
    return None if any(v in os.environ for v in LAUNCHER_RANK_VARS) else 1


_WORLD = None


def world(timeout=None):
    """This process's communicator: ``MPIComm`` over MPI_COMM_WORLD when started by a launcher
    with more than one process, else ``Single()``. The same object on every call. Under a
    launcher of N > 1 processes without mpi4py: DistributedError (each process would otherwise
    train alone and all of them write into one run folder)."""
    global _WORLD
    if _WORLD is not None:
        return _WORLD
    n = launched_size()
    if n == 1:
        _WORLD = Single()
        return _WORLD
    try:
        from mpi4py import MPI
    except ImportError:
        raise DistributedError("started by an MPI launcher as one of %s processes, but mpi4py "
                               "is not installed: pip install 'zfcore[mpi]'" % (n or "several")
                               ) from None
    _WORLD = MPIComm(timeout=timeout) if MPI.COMM_WORLD.Get_size() > 1 else Single()
    return _WORLD


def shard_slice(n, rank, size):
    """Rank ``rank``'s rows of a batch of ``n``: contiguous, sizes differing by at most one (the
    first ``n % size`` ranks one more), together all ``n`` rows in order."""
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


def digest(a):
    """A checksum of an array's bytes (crc32 of the host copy): equal arrays, equal digests."""
    from zfcore.backend import to_numpy
    return zlib.crc32(np.ascontiguousarray(to_numpy(a)).view(np.uint8))


class FlatBuffer:
    """One contiguous buffer for a list of same-dtype arrays (the gradients, or the params), so
    that a step is one collective, not one per parameter; ``extra`` more slots at the end (the
    trainer puts the shard's loss and correct count there). Allocated once, on the arrays'
    device."""

    def __init__(self, arrays, extra=0):
        arrays = list(arrays)
        self.shapes = [a.shape for a in arrays]
        self.sizes = [int(a.size) for a in arrays]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        xp = xp_of(arrays[0]) if arrays else np
        dtype = arrays[0].dtype if arrays else np.float32
        self.flat = xp.empty(int(self.offsets[-1]) + extra, dtype=dtype)
        self.n = int(self.offsets[-1])

    def pack(self, arrays):
        for a, o, s in zip(arrays, self.offsets, self.sizes):
            self.flat[o:o + s] = a.reshape(-1)
        return self.flat

    def unpack(self, arrays):
        """Copy the buffer back into ``arrays``, in place."""
        for a, o, s, shape in zip(arrays, self.offsets, self.sizes, self.shapes):
            a[...] = self.flat[o:o + s].reshape(shape)

    @property
    def extra(self):
        return self.flat[self.n:]


class Single:
    """The communicator of a run in one process: rank 0 of 1, every collective a no-op, so the
    single-process path computes exactly what it computes without this module."""

    rank, size, local_rank = 0, 1, 0
    note = ""

    def allreduce_mean(self, flat):
        return flat

    def allreduce_sum(self, a):
        return np.asarray(a)

    def broadcast(self, arrays):
        return arrays

    def allgather(self, obj):
        return [obj]

    def bcast(self, obj):
        return obj

    def check_same(self, named, what="weights"):
        return None

    def barrier(self):
        return None

    def for_device(self, device):
        return self

    def pick_gpu(self):
        return None


class MPIComm:
    """MPI_COMM_WORLD through mpi4py, on host (NumPy) buffers. ``timeout``: seconds one
    collective may take before the watchdog stops the job (``ZFCORE_MPI_TIMEOUT``)."""

    def __init__(self, comm=None, timeout=None):
        from mpi4py import MPI
        self.MPI = MPI
        base = comm if comm is not None else MPI.COMM_WORLD
        self.comm = base.Dup()
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.local_rank = base.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank).Get_rank()
        if timeout is None:
            timeout = float(os.environ.get("ZFCORE_MPI_TIMEOUT", TIMEOUT_S))
        self.timeout = timeout
        self.note = ""               # appended to the watchdog's line (the last checkpoint)
        self.watchdog = Watchdog(base.Dup(), timeout, self)

    def _guard(self, what):
        return self.watchdog.guard(what)

    def allreduce_mean(self, flat):
        """In place: the mean over ranks of ``flat`` (a contiguous host array)."""
        with self._guard("the gradient all-reduce"):
            self.comm.Allreduce(self.MPI.IN_PLACE, flat, op=self.MPI.SUM)
        flat *= flat.dtype.type(1.0 / self.size)
        return flat

    def allreduce_sum(self, a):
        a = np.ascontiguousarray(np.asarray(a)).copy()
        with self._guard("a sum over ranks"):
            self.comm.Allreduce(self.MPI.IN_PLACE, a, op=self.MPI.SUM)
        return a

    def broadcast(self, arrays):
        """Rank 0's values into ``arrays`` (a list, one dtype) on every rank, in one Bcast."""
        arrays = list(arrays)
        if not arrays:
            return arrays
        buf = FlatBuffer(arrays)
        buf.pack(arrays)
        with self._guard("the broadcast of rank 0's weights"):
            self._bcast_flat(buf.flat)
        buf.unpack(arrays)
        return arrays

    def _bcast_flat(self, flat):
        self.comm.Bcast(flat, root=0)

    def allgather(self, obj):
        with self._guard("an all-gather"):
            return self.comm.allgather(obj)

    def bcast(self, obj):
        with self._guard("a broadcast"):
            return self.comm.bcast(obj, root=0)

    def barrier(self):
        with self._guard("a barrier"):
            self.comm.Barrier()

    def check_same(self, named, what="weights"):
        """``named`` {key: array}: raise DistributedError naming the first key and the ranks
        whose bytes differ from rank 0's (a checksum each, gathered)."""
        mine = [(k, digest(a)) for k, a in sorted(named.items())]
        every = self.allgather(mine)
        for r, theirs in enumerate(every):
            if theirs != every[0]:
                key = next((a[0] for a, b in zip(every[0], theirs) if a != b), "their keys")
                raise DistributedError("rank %d's %s differ from rank 0's (first in %s)"
                                       % (r, what, key))

    def pick_gpu(self):
        """One GPU per rank: device ``local_rank % count`` (before any CuPy allocation)."""
        from zfcore.backend import cupy_or_none
        cp = cupy_or_none()
        if cp is not None:
            cp.cuda.Device(self.local_rank % cp.cuda.runtime.getDeviceCount()).use()

    def for_device(self, device):
        """The communicator for arrays on ``device``: self on 'numpy', ``NCCLComm`` on 'cupy'."""
        if device != "cupy" or isinstance(self, NCCLComm):
            return self
        if getattr(self, "_nccl", None) is None:      # one NCCL communicator per process
            self._nccl = NCCLComm(self)
        return self._nccl


class NCCLComm(MPIComm):
    """NCCL between GPUs (``cupy.cuda.nccl``) for the device buffers; the MPI communicator
    ``host`` hands rank 0's NCCL id to the others and carries the small host collectives.
    Untested on a machine with several GPUs (written against CuPy's NcclCommunicator)."""

    def __init__(self, host):
        import cupy
        from cupy.cuda import nccl
        self.__dict__.update(host.__dict__)
        self.cupy, self.nccl_mod = cupy, nccl
        uid = nccl.get_unique_id() if self.rank == 0 else None
        uid = host.bcast(uid)
        with self._guard("the NCCL set-up"):
            self.nccl = nccl.NcclCommunicator(self.size, uid, self.rank)

    def _dtype(self, a):
        n = self.nccl_mod
        return {np.dtype(np.float32): n.NCCL_FLOAT32, np.dtype(np.float64): n.NCCL_FLOAT64,
                np.dtype(np.int64): n.NCCL_INT64}[np.dtype(a.dtype)]

    def allreduce_mean(self, flat):
        """In place on a CuPy array: NCCL sum, then scaled by 1/size; the stream is waited on
        under the watchdog (a dead peer shows here)."""
        if not isinstance(flat, self.cupy.ndarray):
            return MPIComm.allreduce_mean(self, flat)
        stream = self.cupy.cuda.get_current_stream()
        with self._guard("the gradient all-reduce (NCCL)"):
            self.nccl.allReduce(flat.data.ptr, flat.data.ptr, flat.size, self._dtype(flat),
                                self.nccl_mod.NCCL_SUM, stream.ptr)
            stream.synchronize()
        flat *= flat.dtype.type(1.0 / self.size)
        return flat

    def _bcast_flat(self, flat):
        if not isinstance(flat, self.cupy.ndarray):
            return MPIComm._bcast_flat(self, flat)
        stream = self.cupy.cuda.get_current_stream()
        self.nccl.bcast(flat.data.ptr, flat.size, self._dtype(flat), 0, stream.ptr)
        stream.synchronize()


class Watchdog:
    """Bounds the time a rank waits in a collective (see the module's docstring).

    A daemon thread on a communicator of its own (``comm``, a Dup of the world) answers every
    other rank's ping with (collectives entered so far, whether it is inside one). When this
    rank has been inside one collective for more than ``timeout`` seconds, it pings every other
    rank and waits ``GRACE_S`` (at most ``timeout``) for the answers: a rank that does not
    answer is dead or cut off; one that answers from an earlier collective, or from outside
    any, is hung or stopped elsewhere. It prints one line naming them (and ``owner.note``: the
    last checkpoint) and aborts the job."""

    PING, PONG = 7301, 7302

    def __init__(self, comm, timeout, owner=None):
        self.comm, self.timeout, self.owner = comm, timeout, owner
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.seq, self.what, self.since = 0, None, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="zfcore-watchdog", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    @contextlib.contextmanager
    def guard(self, what):
        self.seq += 1
        self.what, self.since = what, time.monotonic()
        try:
            yield
        except self._mpi_exception() as e:    # e.g. a peer's connection closed
            self._fail("rank %d: %s failed: %s%s" % (self.rank, what, str(e).splitlines()[0],
                                                     self._note()))
        finally:
            self.since = None

    @staticmethod
    def _mpi_exception():
        from mpi4py import MPI
        return MPI.Exception

    def close(self):
        """Stop the thread (before MPI_Finalize, which runs after the atexit handlers)."""
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join(timeout=2.0)

    def _note(self):
        note = getattr(self.owner, "note", "")
        return "; %s" % note if note else ""

    def _loop(self):
        self._buf = np.zeros(1, np.int64)
        self._ping = self.comm.Irecv(self._buf, source=self._any(), tag=self.PING)
        while not self._stop.wait(0.05):
            self._answer(self.seq, self.since is not None, self.what)
            since = self.since
            if since is not None and time.monotonic() - since > self.timeout:
                self._diagnose(self.seq, self.what, time.monotonic() - since)
        self._ping.Cancel()
        self._ping.Wait()

    def _answer(self, seq, inside, what):
        """Answer a ping that has come in (one receive is always posted for them): [collectives
        entered, inside one now, a checksum of which]."""
        st = self._status()
        if self._ping.Test(st):
            self.comm.Send(np.array([seq, inside, _code(what)], np.int64),
                           dest=st.Get_source(), tag=self.PONG)
            self._ping = self.comm.Irecv(self._buf, source=self._any(), tag=self.PING)

    def _any(self):
        from mpi4py import MPI
        return MPI.ANY_SOURCE

    def _status(self):
        from mpi4py import MPI
        return MPI.Status()

    def _diagnose(self, seq, what, waited):
        others = [r for r in range(self.size) if r != self.rank]
        answers = {r: np.full(3, -1, np.int64) for r in others}
        recvs = [self.comm.Irecv(answers[r], source=r, tag=self.PONG) for r in others]
        sends = [self.comm.Isend(np.array([seq], np.int64), dest=r, tag=self.PING)
                 for r in others]
        deadline = time.monotonic() + min(GRACE_S, max(1.0, self.timeout))
        while time.monotonic() < deadline and not all(r.Test() for r in recvs):
            self._answer(seq, True, what)    # the others may be asking us at the same time
            time.sleep(0.02)
        silent = [r for r in others if answers[r][0] < 0]
        behind = [r for r in others if r not in silent and
                  (answers[r][0] < seq or not answers[r][1])]
        elsewhere = [r for r in others if r not in silent + behind and
                     answers[r][2] != _code(what)]
        if silent:
            why = "rank %s did not answer (dead, or its host unreachable)" % _names(silent)
        elif behind:
            why = "rank %s is alive but has not reached it (hung or stopped)" % _names(behind)
        elif elsewhere:
            why = "rank %s is waiting in another collective (the ranks took different paths)" \
                % _names(elsewhere)
        else:
            why = "every rank is inside it: the network makes no progress"
        del sends
        self._fail("rank %d waited %.0f s in %s: %s%s"
                   % (self.rank, waited, what, why, self._note()))

    def _fail(self, line):
        print("zfcore: error: %s" % line, file=sys.stderr, flush=True)
        _abort(EXIT_PEER_FAILED)


def _code(what):
    return zlib.crc32((what or "").encode()) if what else 0


def _names(ranks):
    return ", ".join(str(r) for r in ranks)


def _abort(code):
    """End the whole job with ``code``: MPI_Abort (the launcher stops every rank); if that
    does not return within a few seconds, this process exits anyway."""
    threading.Timer(5.0, os._exit, (code,)).start()
    try:
        sys.stdout.flush()
        from mpi4py import MPI
        MPI.COMM_WORLD.Abort(code)
    finally:
        os._exit(code)


def exit_world(code):
    """Called by a command line that is about to exit with ``code``: when this is one rank of
    several and the code is not 0, the other ranks would wait for it in their next collective,
    so the whole job is aborted now (MPI_Abort with the same code)."""
    if code in (0, None) or _WORLD is None or _WORLD.size <= 1:
        return
    _abort(code if isinstance(code, int) else 1)
