"""The pieces of zfcore.distributed that need no MPI: how a batch is cut into shards, the top-k
merge of the ranks' lists, the flat buffer, and the single-process communicator."""
import numpy as np
import pytest

from zfcore.distributed import FlatBuffer, Single, launched_size, shard_slice, world
from zfcore.vis.topk import RunningTopK, merge_topk


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_shards_cover_the_batch_in_order_and_differ_by_at_most_one(size):
    for n in range(0, 23):
        parts = [shard_slice(n, r, size) for r in range(size)]
        rows = [i for p in parts for i in range(n)[p]]
        assert rows == list(range(n))
        lengths = [p.stop - p.start for p in parts]
        assert max(lengths) - min(lengths) <= 1 and sorted(lengths, reverse=True) == lengths


def _scan(values, k, first=0, batch=4):
    run = RunningTopK(values.shape[1], k)
    for s in range(0, len(values), batch):
        v = values[s:s + batch]
        run.update(v, 100 * (first + s + np.arange(len(v)))[:, None] + np.arange(v.shape[1]),
                   first + s)
    return run


@pytest.mark.parametrize("cuts", [[0, 50], [0, 23, 50], [0, 3, 4, 40, 50], [0, 0, 2, 50]])
def test_merging_the_shards_top_k_gives_the_one_pass_top_k(cuts):
    # integer values from a small range: many ties, which one pass breaks by the earlier image
    values = np.random.default_rng(0).integers(0, 6, (50, 7)).astype(np.float32)
    k = 9
    whole = _scan(values, k)
    parts = [_scan(values[a:b], k, first=a) for a, b in zip(cuts[:-1], cuts[1:])]
    merged = merge_topk([(p.values, p.image, p.pos) for p in parts], k)
    np.testing.assert_array_equal(merged[0], whole.values)
    np.testing.assert_array_equal(merged[1], whole.image)
    np.testing.assert_array_equal(merged[2], whole.pos)
    # by hand for channel 0: the 9 largest values, equal ones in image order
    order = sorted(range(50), key=lambda i: (-values[i, 0], i))[:k]
    assert whole.image[0].tolist() == order


def test_merging_lists_with_unfilled_slots_keeps_them_last():
    a, b = _scan(np.array([[3.0], [1.0]]), 4), _scan(np.array([[2.0]]), 4, first=2)
    v, im, _ = merge_topk([(a.values, a.image, a.pos), (b.values, b.image, b.pos)], 4)
    assert v[0].tolist() == [3.0, 2.0, 1.0, -np.inf] and im[0].tolist() == [0, 2, 1, -1]


def test_the_flat_buffer_holds_the_arrays_and_gives_them_back():
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in [(2, 3), (4,), (1, 2, 2)]]
    buf = FlatBuffer(arrays, extra=2)
    flat = buf.pack(arrays)
    assert flat.shape == (6 + 4 + 4 + 2,)
    np.testing.assert_array_equal(flat[:14], np.concatenate([a.ravel() for a in arrays]))
    flat[:14] *= 2
    out = [np.zeros_like(a) for a in arrays]
    buf.unpack(out)
    for a, o in zip(arrays, out):
        np.testing.assert_array_equal(o, 2 * a)
    assert buf.extra.shape == (2,)


def test_outside_mpiexec_the_communicator_is_the_single_process_one(monkeypatch):
    for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert launched_size() == 1
    comm = world()
    assert isinstance(comm, Single) and (comm.rank, comm.size) == (0, 1)
    flat = np.arange(3.0)
    assert comm.allreduce_mean(flat) is flat and flat.tolist() == [0.0, 1.0, 2.0]
    monkeypatch.setenv("PMI_SIZE", "4")
    assert launched_size() == 4
