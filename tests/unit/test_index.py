"""The gallery's vector index: exact and IVF search, add/remove, the cache file and its failures."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from facewise.errors import InvalidInput
from facewise.gallery.index import (
    EXACT_LIMIT,
    RERANK,
    ExactIndex,
    IVFIndex,
    VectorIndex,
    build_index,
    load_index,
    rerank_for,
    save_index,
)

DIM = 128
PEOPLE = 2500
SAMPLES = 4


def _unit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)
    return out


class Data:
    """Clustered synthetic faces: PEOPLE identities x SAMPLES samples, and one probe a person."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        centres = _unit(rng.standard_normal((PEOPLE, DIM)))
        sigma = 0.5 / np.sqrt(DIM)  # noise of norm ~0.5: genuine cos ~0.8, impostor ~0

        def samples(means: np.ndarray) -> np.ndarray:
            return _unit(means + sigma * rng.standard_normal(means.shape))

        self.vectors = samples(np.repeat(centres, SAMPLES, axis=0))
        self.owner = np.repeat(np.arange(PEOPLE), SAMPLES)
        self.ids = np.arange(PEOPLE * SAMPLES, dtype=np.int64) * 5 + 11  # row ids, not positions
        self.probes = samples(centres)
        self.probe_owner = np.arange(PEOPLE)


@pytest.fixture(scope="module")
def data() -> Data:
    return Data()


@pytest.fixture(scope="module")
def ivf(data: Data) -> VectorIndex:
    index = build_index(data.ids, data.vectors, dim=DIM, kind="ivf")
    assert isinstance(index, IVFIndex)
    return index


@pytest.fixture(scope="module")
def exact(data: Data) -> VectorIndex:
    return build_index(data.ids, data.vectors, dim=DIM, kind="exact")


def _owner_of(data: Data, ids: np.ndarray) -> np.ndarray:
    owners: np.ndarray = data.owner[(ids - 11) // 5]
    return owners


def test_synthetic_data_is_clustered(data: Data) -> None:
    genuine = np.sum(data.vectors[0::SAMPLES] * data.vectors[1::SAMPLES], axis=1)
    impostor = np.sum(data.vectors[0::SAMPLES][:-1] * data.vectors[SAMPLES::SAMPLES], axis=1)
    assert genuine.mean() > 0.7 and abs(impostor.mean()) < 0.1


def test_auto_picks_exact_for_small_galleries(data: Data) -> None:
    index = build_index(data.ids[:500], data.vectors[:500], dim=DIM)
    assert isinstance(index, ExactIndex) and index.kind == "exact" and len(index) == 500
    assert len(data.ids) < EXACT_LIMIT
    assert build_index(data.ids, data.vectors, dim=DIM, kind="auto").kind == "exact"


def test_exact_search_finds_the_right_people(exact: VectorIndex, data: Data) -> None:
    scores, ids = exact.search(data.probes, 5)
    assert scores.shape == ids.shape == (PEOPLE, 5)
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    assert np.all(np.diff(scores, axis=1) <= 0)
    assert np.mean(_owner_of(data, ids[:, 0]) == data.probe_owner) > 0.99
    # a stored vector finds itself first, with score ~1
    s, i = exact.search(data.vectors[7:8], 1)
    assert i[0, 0] == data.ids[7] and s[0, 0] == pytest.approx(1.0, abs=1e-5)
    # the scores are the inner products
    want = np.einsum("qkd,qd->qk", data.vectors[(ids[:3] - 11) // 5], data.probes[:3])
    assert np.allclose(scores[:3], want, atol=1e-5)


def test_ivf_recall_against_exact(ivf: VectorIndex, exact: VectorIndex, data: Data) -> None:
    assert isinstance(ivf, IVFIndex)
    e_scores, e_ids = exact.search(data.probes, 5)
    a_scores, a_ids = ivf.search(data.probes, 5)
    assert np.mean(a_ids[:, 0] == e_ids[:, 0]) >= 0.99
    # scores are exact inner products of the candidates, so where the ids agree they agree too
    same = a_ids == e_ids
    assert np.allclose(a_scores[same], e_scores[same], atol=1e-5)
    # a scan of a few cells of ~40 vectors still finds the clusters, split over two threads or not
    saved = ivf.nprobe, ivf.search_threads
    try:
        ivf.nprobe = 8
        got = ivf.search(data.probes, 1)[1][:, 0]
        assert np.mean(got == e_ids[:, 0]) >= 0.99
        ivf.search_threads = 1
        assert np.array_equal(ivf.search(data.probes, 1)[1][:, 0], got)
    finally:
        ivf.nprobe, ivf.search_threads = saved
    # batch-1 and batched searches agree
    one = np.stack([ivf.search(q[None, :], 5)[1][0] for q in data.probes[:20]])
    assert np.array_equal(one, a_ids[:20])


@pytest.mark.parametrize("kind", ["exact", "ivf"])
def test_add_and_remove(kind: str, data: Data) -> None:
    n = 1500 * SAMPLES
    index = build_index(data.ids[:n], data.vectors[:n], dim=DIM, kind=kind)
    # remove two people (all their samples) and some ids that are not there
    gone = data.ids[: 2 * SAMPLES]
    assert index.remove(np.r_[gone, [1, 3, 10**12]]) == len(gone)
    assert len(index) == n - len(gone)
    assert index.remove(gone) == 0
    _, ids = index.search(data.vectors[: 2 * SAMPLES], 50)
    assert not np.isin(gone, ids).any()
    # the moved rows still answer for their own ids
    _, ids = index.search(data.vectors[n - 10 : n], 1)
    assert np.array_equal(ids[:, 0], data.ids[n - 10 : n])
    # add the rest; new people are found, the removed never come back
    index.add(data.ids[n:], data.vectors[n:])
    assert len(index) == len(data.ids) - len(gone)
    _, ids = index.search(data.probes[1500:], 1)
    assert np.mean(_owner_of(data, ids[:, 0]) == data.probe_owner[1500:]) > 0.99
    _, ids = index.search(data.probes[:2], 20)
    assert not np.isin(gone, ids).any()
    # adding a removed id again is allowed; adding a present one is not
    index.add(gone[:1], data.vectors[:1])
    assert index.search(data.vectors[:1], 1)[1][0, 0] == gone[0]
    with pytest.raises(InvalidInput, match="already in the index"):
        index.add(data.ids[n : n + 1], data.vectors[n : n + 1])
    with pytest.raises(InvalidInput, match="unique"):
        index.add(np.array([10**9, 10**9]), data.vectors[:2])
    index.add(np.zeros(0, np.int64), np.zeros((0, DIM), np.float32))  # a no-op


def test_remove_does_not_touch_the_callers_array(data: Data) -> None:
    vectors = data.vectors[:100].copy()
    index = build_index(data.ids[:100], vectors, dim=DIM, kind="exact")
    index.remove(data.ids[:50])
    assert np.array_equal(vectors, data.vectors[:100])


@pytest.mark.parametrize("kind", ["exact", "ivf"])
def test_copy_false_takes_the_arrays_over(kind: str, data: Data) -> None:
    """A large gallery need not be held twice: with copy=False the index keeps the caller's
    float32 matrix and int64 ids themselves, and searches the same as a copying index."""
    n = 1200 * SAMPLES
    vectors, ids = data.vectors[:n].copy(), data.ids[:n].copy()
    index = build_index(ids, vectors, dim=DIM, kind=kind, copy=False)
    assert np.shares_memory(index._store.vectors, vectors)  # type: ignore[attr-defined]
    assert np.shares_memory(index._store.row_ids, ids)  # type: ignore[attr-defined]
    copied = build_index(data.ids[:n], data.vectors[:n], dim=DIM, kind=kind)
    assert not np.shares_memory(copied._store.vectors, data.vectors)  # type: ignore[attr-defined]
    assert np.array_equal(index.search(data.probes, 3)[1], copied.search(data.probes, 3)[1])
    # arrays of another dtype or layout are converted (copied) as before
    index = build_index(
        ids.astype(np.int32), vectors.astype(np.float64), dim=DIM, kind="exact", copy=False
    )
    assert index.search(data.probes[:5], 1)[1].shape == (5, 1)


def test_the_matrix_grows_by_a_bounded_spare(data: Data, monkeypatch: pytest.MonkeyPatch) -> None:
    import facewise.gallery.index.base as mod

    monkeypatch.setattr(mod, "_SPARE_BYTES", 100 * DIM * 4)  # 100 spare rows at most
    index = build_index(data.ids[:2000], data.vectors[:2000], dim=DIM, kind="exact")
    index.add(data.ids[2000:2001], data.vectors[2000:2001])
    assert len(index._store.vectors) == 2000 + 100 + 64  # type: ignore[attr-defined]
    index.add(data.ids[2001:2500], data.vectors[2001:2500])
    assert len(index._store.vectors) == 2500  # type: ignore[attr-defined]  # no spare: asked for more
    assert np.array_equal(
        index.search(data.probes[:50], 1)[1],
        build_index(data.ids[:2500], data.vectors[:2500], dim=DIM, kind="exact").search(
            data.probes[:50], 1
        )[1],
    )


def test_rerank_grows_past_a_million() -> None:
    assert rerank_for(1000) == rerank_for(1_000_000) == RERANK
    assert RERANK < rerank_for(3_000_000) < rerank_for(10_000_000) == 4096
    assert all(rerank_for(n) % 256 == 0 for n in (2_000_000, 7_000_000, 10**8))


def test_k_larger_than_the_count_pads(data: Data) -> None:
    index = build_index(data.ids[:3], data.vectors[:3], dim=DIM)
    scores, ids = index.search(data.vectors[:2], 5)
    assert ids.shape == (2, 5)
    assert np.all(ids[:, 3:] == -1) and np.all(np.isneginf(scores[:, 3:]))
    assert set(ids[0, :3]) == set(data.ids[:3])
    empty = build_index(np.zeros(0, np.int64), np.zeros((0, 0), np.float32), dim=DIM)
    assert len(empty) == 0
    scores, ids = empty.search(data.vectors[:1], 3)
    assert np.all(ids == -1) and np.all(np.isneginf(scores))


def test_ivf_k_larger_than_the_count_pads(data: Data) -> None:
    index = build_index(data.ids[:1200], data.vectors[:1200], dim=DIM, kind="ivf")
    assert isinstance(index, IVFIndex)
    index.nprobe = index.nlist  # scan every cell: all 1200 come back
    scores, ids = index.search(data.vectors[:1], 1205)
    assert sorted(ids[0, :1200].tolist()) == sorted(data.ids[:1200].tolist())
    assert np.all(ids[0, 1200:] == -1) and np.all(np.isneginf(scores[0, 1200:]))


@pytest.mark.parametrize("kind", ["exact", "ivf"])
def test_save_load_round_trip(kind: str, data: Data, tmp_path: Path) -> None:
    n = 1500
    index = build_index(data.ids[:n], data.vectors[:n], dim=DIM, kind=kind)
    index.remove(data.ids[:10])
    path = tmp_path / "index.bin"
    save_index(index, path, generation=7, space_key="dlib-abc")
    assert [p.name for p in tmp_path.iterdir()] == ["index.bin"]  # no temp file left
    loaded = load_index(path, generation=7, space_key="dlib-abc")
    assert loaded is not None
    assert (loaded.kind, loaded.dim, len(loaded)) == (kind, DIM, n - 10)
    want = index.search(data.probes[:300], 5)
    got = loaded.search(data.probes[:300], 5)
    assert np.array_equal(want[1], got[1]) and np.allclose(want[0], got[0])
    if isinstance(index, IVFIndex):
        assert isinstance(loaded, IVFIndex)
        assert (loaded.nprobe, loaded.nlist, loaded.trained_for) == (
            index.nprobe,
            index.nlist,
            index.trained_for,
        )
    # the loaded index keeps working
    loaded.add(data.ids[:10], data.vectors[:10])
    assert loaded.remove(data.ids[10:20]) == 10
    assert loaded.search(data.vectors[:1], 1)[1][0, 0] == data.ids[0]


def test_stale_file_loads_as_none(
    exact: VectorIndex, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "index.bin"
    save_index(exact, path, generation=3, space_key="a")
    with caplog.at_level(logging.WARNING, logger="facewise.gallery.index"):
        assert load_index(path, generation=4, space_key="a") is None
        assert load_index(path, generation=3, space_key="b") is None
    assert caplog.text.count("is stale (") == 2
    assert load_index(path, generation=3, space_key="a") is not None


@pytest.mark.parametrize(
    "damage",
    [
        "truncate",
        "truncate-header",
        "flip",
        "magic",
        "garbage",
        "empty",
        "missing",
        "trailing",
        "header-count",
    ],
)
def test_damaged_file_loads_as_none(
    damage: str, data: Data, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    index = build_index(data.ids[:200], data.vectors[:200], dim=DIM)
    path = tmp_path / "index.bin"
    save_index(index, path, generation=1, space_key="k")
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) - 1000])
    elif damage == "truncate-header":
        path.write_bytes(raw[:30])
    elif damage == "flip":
        raw[len(raw) // 2] ^= 0x01
        path.write_bytes(raw)
    elif damage == "magic":
        path.write_bytes(b"X" + raw[1:])
    elif damage == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(5000))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "missing":
        path.unlink()
    elif damage == "trailing":
        path.write_bytes(raw + b"\0")
    elif damage == "header-count":
        path.write_bytes(raw.replace(b'"count": 200', b'"count": 201'))
    with caplog.at_level(logging.WARNING, logger="facewise.gallery.index"):
        assert load_index(path, generation=1, space_key="k") is None
    assert "rebuilt" in caplog.text


def test_corrupt_ivf_payload_loads_as_none(ivf: VectorIndex, tmp_path: Path) -> None:
    path = tmp_path / "index.bin"
    save_index(ivf, path, generation=1, space_key="k")
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 0xFF  # inside the FAISS section
    path.write_bytes(raw)
    assert load_index(path, generation=1, space_key="k") is None


@pytest.mark.parametrize("kind", ["exact", "ivf"])
def test_removed_vectors_are_not_in_the_saved_file(kind: str, data: Data, tmp_path: Path) -> None:
    n = 1200
    index = build_index(data.ids[:n], data.vectors[:n], dim=DIM, kind=kind)
    gone = [3, 500, n - 1]  # a hole filled from the tail, one in the middle, the last row
    assert index.remove(data.ids[gone]) == 3
    path = tmp_path / "index.bin"
    save_index(index, path, generation=1, space_key="k")
    raw = path.read_bytes()
    for row in gone:
        assert data.vectors[row].tobytes() not in raw
    assert data.vectors[4].tobytes() in raw  # the check can see a kept vector


def test_concurrent_searches(ivf: VectorIndex, data: Data) -> None:
    want = ivf.search(data.probes[:64], 5)[1]

    def one(i: int) -> np.ndarray:
        row: np.ndarray = ivf.search(data.probes[i : i + 1], 5)[1][0]
        return row

    with ThreadPoolExecutor(8) as pool:
        got = np.stack(list(pool.map(one, range(64))))
    assert np.array_equal(got, want)


@pytest.mark.parametrize("kind", ["exact", "ivf"])
def test_searches_while_writing(kind: str, data: Data) -> None:
    index = build_index(data.ids[:2000], data.vectors[:2000], dim=DIM, kind=kind)
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                _, ids = index.search(data.vectors[:8], 3)
                assert np.array_equal(ids[:, 0], data.ids[:8])  # never removed
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for start in range(2000, 4000, 100):
        index.add(data.ids[start : start + 100], data.vectors[start : start + 100])
        index.remove(data.ids[start - 1000 : start - 900])
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert len(index) == 2000


def test_ivf_reports_when_a_rebuild_is_advisable(data: Data) -> None:
    index = build_index(data.ids[:1000], data.vectors[:1000], dim=DIM, kind="ivf")
    assert isinstance(index, IVFIndex) and not index.needs_rebuild
    index.add(data.ids[1000:5000], data.vectors[1000:5000])
    assert index.needs_rebuild
    assert not ExactIndex(DIM).needs_rebuild


def test_bad_input_is_rejected(data: Data) -> None:
    with pytest.raises(InvalidInput, match="L2-normalised"):
        build_index(data.ids[:10], data.vectors[:10] * 2, dim=DIM)
    with pytest.raises(InvalidInput, match="shape"):
        build_index(data.ids[:10], data.vectors[:10, :64], dim=DIM)
    with pytest.raises(InvalidInput, match="non-negative"):
        build_index(-data.ids[:10], data.vectors[:10], dim=DIM)
    with pytest.raises(InvalidInput, match="unique"):
        build_index(np.zeros(10, np.int64), data.vectors[:10], dim=DIM)
    with pytest.raises(InvalidInput, match="ids for"):
        build_index(data.ids[:9], data.vectors[:10], dim=DIM)
    with pytest.raises(InvalidInput, match="kind"):
        build_index(data.ids[:10], data.vectors[:10], dim=DIM, kind="hnsw")
    with pytest.raises(InvalidInput, match="at least"):
        build_index(data.ids[:10], data.vectors[:10], dim=DIM, kind="ivf")
    index = build_index(data.ids[:10], data.vectors[:10], dim=DIM)
    with pytest.raises(InvalidInput, match="k must"):
        index.search(data.vectors[:1], 0)
    with pytest.raises(InvalidInput, match="shape"):
        index.search(data.vectors[0], 1)
    with pytest.raises(InvalidInput, match="NaN"):
        index.search(np.full((1, DIM), np.nan, np.float32), 1)
    with pytest.raises(InvalidInput, match="cannot save"):
        save_index(object(), Path("x"), generation=0, space_key="")  # type: ignore[arg-type]


def test_facenet_dimension() -> None:
    rng = np.random.default_rng(1)
    centres = _unit(rng.standard_normal((500, 512)))
    vectors = _unit(
        np.repeat(centres, 3, axis=0) + 0.5 / np.sqrt(512) * rng.standard_normal((1500, 512))
    )
    probes = _unit(centres + 0.5 / np.sqrt(512) * rng.standard_normal((500, 512)))
    ids = np.arange(1500, dtype=np.int64)
    ivf = build_index(ids, vectors, dim=512, kind="ivf")
    exact = build_index(ids, vectors, dim=512, kind="exact")
    assert ivf.dim == exact.dim == 512
    assert np.mean(ivf.search(probes, 1)[1] == exact.search(probes, 1)[1]) >= 0.99
