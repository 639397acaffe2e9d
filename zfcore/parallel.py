"""Every core for the NumPy backend's element-wise passes (max-pool, LRN, ReLU, im2col...).

BLAS runs the products on all cores; NumPy runs everything else on one. But NumPy releases the
GIL inside its loops, so a pass split over the batch (or channel) axis runs on several cores
from plain Python threads, and the code stays plain NumPy:

    y = np.empty_like(x)
    parallel.over(len(x), lambda lo, hi: np.maximum(x[lo:hi], 0, out=y[lo:hi]), x.size)

``over(n, body, work)`` calls ``body(lo, hi)`` on contiguous pieces of ``range(n)``, each
touching about ``PIECE`` of the pass's ``work`` elements, so that a piece's arrays stay in a
core's cache between the operations of the pass (even on one thread this is up to 2x faster
than whole-batch operations that stream through memory). The calling thread and a persistent
pool take the pieces one at a time, and it returns when all are done. Each piece writes only its
own slice, so the result is bit for bit the serial one. The pieces stay on the calling thread
when there is one thread, when ``work`` is too small to gain (waking a thread costs ~50-100 us),
off NumPy, and inside a piece (no nesting).

A body that calls BLAS (the convolutions' blocks: columns, product, output write) passes
``products=True``: while its pieces run on several threads, BLAS runs on one thread in each
(``threadpoolctl``), so the products share the cores instead of fighting over them.

The thread count: ``set_threads(n)``, else ``ZFCORE_THREADS``, else the BLAS pool's setting
(``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS``), else the CPUs this
process may run on: the same cores as BLAS, never more.
"""
import concurrent.futures
import contextlib
import itertools
import os
import threading

import numpy as np

# Elements a thread's share must touch before a split pays: on the 2-CPU VM of bench/RESULTS.md
# a 1 M element ReLU (2 M touched) ran 2.2x faster on 2 threads, a 256 k one 1.5x slower.
MIN_WORK = 1 << 20
# Elements a piece touches: about the 2 MB L2 of one core, in float32.
PIECE = 1 << 19

_threads = None
_pool = None
_lock = threading.Lock()
_inside = threading.local()


def _default_threads():
    for var in ("ZFCORE_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads():
    """How many threads a pass is split over."""
    global _threads
    if _threads is None:
        _threads = max(1, _default_threads())
    return _threads


def set_threads(n):
    """Split passes over ``n`` threads from now on (1: serial); e.g. alongside
    ``threadpoolctl.threadpool_limits(n)``, so that both pools use the same cores."""
    global _threads, _pool
    n = max(1, int(n))
    with _lock:
        if _pool is not None and n != _threads:
            _pool.shutdown(wait=True)
            _pool = None
        _threads = n


def _forget_pool():
    """In a forked child: the parent's pool threads did not come along, so start a new pool
    when one is needed (its lock may have been held at the fork, too)."""
    global _pool, _lock
    _pool, _lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


_blas = None


def _blas_on_one_thread():
    """A context in which BLAS runs each product on the calling thread only (``threadpoolctl``;
    a no-op where it, or a BLAS it knows, is absent)."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
            _blas = ThreadpoolController()
        except ImportError:
            _blas = False
    if not _blas:
        return contextlib.nullcontext()
    return _blas.limit(limits=1, user_api="blas")


def _get_pool():
    global _pool
    with _lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(threads() - 1,
                                                          thread_name_prefix="zfcore")
        return _pool


def _take_pieces(body, bounds, counter):
    """Run pieces until none is left: each thread takes the next untaken piece (``next`` on an
    ``itertools.count`` is atomic), so a thread that starts late or shares its core with another
    job simply takes fewer."""
    _inside.active = True
    try:
        while True:
            i = next(counter)
            if i >= len(bounds) - 1:
                return
            body(bounds[i], bounds[i + 1])
    finally:
        _inside.active = False


def split(n, work):
    """(pieces, threads) that ``over`` uses for a pass over ``range(n)`` touching ``work``
    elements."""
    pieces = max(1, min(n, int(work) // PIECE))
    if getattr(_inside, "active", False):
        return 1, 1
    return pieces, max(1, min(threads(), pieces, int(work) // MIN_WORK))


def over(n, body, work, like=None, products=False):
    """Call ``body(lo, hi)`` on contiguous pieces covering ``range(n)``, on several threads when
    it pays (see the module docstring); ``like``: an array of the pass, to stay whole and serial
    off NumPy; ``products``: the body calls BLAS, which then runs on one thread in each piece
    while the pieces run on several."""
    if like is not None and not isinstance(like, np.ndarray):
        body(0, n)
        return
    pieces, k = split(n, work)
    if pieces == 1:
        body(0, n)
        return
    bounds = [n * i // pieces for i in range(pieces + 1)]
    counter = itertools.count()
    if k == 1:
        _take_pieces(body, bounds, counter)
        return
    with _blas_on_one_thread() if products else contextlib.nullcontext():
        _run_on_threads(body, bounds, counter, k)


def _run_on_threads(body, bounds, counter, k):
    futures = [_get_pool().submit(_take_pieces, body, bounds, counter) for _ in range(k - 1)]
    try:
        _take_pieces(body, bounds, counter)
    finally:
        # every piece writes into the caller's arrays: wait for all before returning or raising
        # (a helper that has not started by now has nothing left to take)
        concurrent.futures.wait([f for f in futures if not f.cancel()])
    for f in futures:
        if not f.cancelled():
            f.result()
