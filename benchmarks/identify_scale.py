"""1:N identification at gallery scale: the facewise vector index against a linear numpy scan.

Face-like vectors, not uniform random ones: a generative model is fitted to the real default
facewise embeddings (dlib ResNet, 128-D) of the LFW dev images. From people with >= 2 images it
estimates the pooled within-person covariance (deviations from the person mean) and a Gaussian for
the person means (their covariance less the within-person share that a mean of n_i images still
carries); the per-image spread of real deviations is resampled, so some samples are noisier than
others, as in LFW. A synthetic gallery draws identity means from the Gaussian, then samples =
mean + within-person noise, L2-normalised. Probes are other samples of enrolled identities.

For each size: index build time, memory (the index's own bytes, and the process's resident memory,
peak and steady, against the raw float32 vectors), the index file's save/load time and size, enrol
rate, batch-1 top-5 latency (p50/p99 over --queries probes), recall@1 against exact search, and in
the same run the linear scan a face_recognition user writes (``gallery @ q``, and
face_recognition's own ``np.linalg.norm(gallery - q, axis=1)``), with the speed ratio.

Sizes up to 10M fit 24 GB: the gallery is generated in chunks straight into one float32 array,
which the index takes over (``build_index(copy=False)``); exact ground truth is computed in blocks.

    python benchmarks/identify_scale.py [--sizes 10000,100000,1000000,10000000] [--queries 1000]

Reusable: :func:`face_model` (the fitted model, cached) and :func:`generate` (gallery and probes
from it) are what other benchmarks import.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common import CACHE, DEFAULT, LFW, embed_all, lfw_pairs, machine, write_result
from facewise.gallery.index import EXACT_LIMIT, IVFIndex, build_index, load_index, save_index


@dataclass
class FaceModel:
    mean: np.ndarray  # (D,) mean of the identity means
    between: np.ndarray  # (D, D) square root of the identity-mean covariance
    within: np.ndarray  # (D, D) square root of the pooled within-person covariance
    spread: np.ndarray  # (M,) per-image noise scale of the real deviations (mean square ~ 1)
    stats: dict[str, Any]


def _sqrt_psd(cov: np.ndarray) -> np.ndarray:
    w, u = np.linalg.eigh(cov)
    return u * np.sqrt(np.clip(w, 0.0, None))


def fit_model(workers: int) -> FaceModel:
    paths = sorted({p[k] for p in lfw_pairs() for k in ("path_a", "path_b")})
    vectors = embed_all(DEFAULT, [str(LFW / p) for p in paths], workers=workers).astype(np.float64)
    who = np.array([Path(p).parent.name for p in paths])
    ok = ~np.isnan(vectors).any(axis=1)
    v, who = vectors[ok], who[ok]
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    names, inv, counts = np.unique(who, return_inverse=True, return_counts=True)
    multi = counts[inv] >= 2
    means = np.zeros((len(names), v.shape[1]))
    np.add.at(means, inv, v)
    means /= counts[:, None]
    dev = v[multi] - means[inv[multi]]
    people = counts >= 2
    within = dev.T @ dev / (multi.sum() - people.sum())
    between = np.cov(means[people].T) - within * np.mean(1.0 / counts[people])
    n_i = counts[inv[multi]]
    spread = np.sqrt((dev**2).sum(axis=1) * n_i / (n_i - 1) / np.trace(within))
    sims = v @ v.T
    same = who[:, None] == who[None, :]
    upper = np.triu(np.ones(sims.shape, dtype=bool), 1)
    model = FaceModel(means[people].mean(axis=0), _sqrt_psd(between), _sqrt_psd(within), spread, {})
    model.stats = {
        "images": len(v),
        "people": len(names),
        "people_with_2plus": int(people.sum()),
        "images_of_those": int(multi.sum()),
        "real_genuine_cos": [float(sims[upper & same].mean()), float(sims[upper & same].std())],
        "real_impostor_cos": [float(sims[upper & ~same].mean()), float(sims[upper & ~same].std())],
    }
    g, g_owner, p, p_owner = generate(model, 2000, 1, 2000, seed=99)
    s = p @ g.T
    mate = p_owner[:, None] == g_owner[None, :]
    model.stats["synthetic_genuine_cos"] = [float(s[mate].mean()), float(s[mate].std())]
    model.stats["synthetic_impostor_cos"] = [float(s[~mate].mean()), float(s[~mate].std())]
    return model


_MODEL_CACHE = CACHE / "identify_scale_model.npz"


def face_model(workers: int = 2, *, fresh: bool = False) -> FaceModel:
    """The face-like vector model: :func:`fit_model` once, then cached in benchmarks/.cache (a few
    hundred KB; the LFW embeddings it is fitted to are cached by ``embed_all`` as well)."""
    if _MODEL_CACHE.is_file() and not fresh:
        data = np.load(_MODEL_CACHE, allow_pickle=False)
        return FaceModel(
            data["mean"],
            data["between"],
            data["within"],
            data["spread"],
            json.loads(str(data["stats"])),
        )
    model = fit_model(workers)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(
        _MODEL_CACHE,
        mean=model.mean,
        between=model.between,
        within=model.within,
        spread=model.spread,
        stats=json.dumps(model.stats),
    )
    return model


def generate(
    model: FaceModel,
    n: int,
    per_identity: int,
    n_probes: int,
    *,
    seed: int,
    chunk: int = 50_000,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Face-like vectors: gallery (n, D) float32 L2-normalised, its identity (n,) int64, probes
    (n_probes, D) float32 (fresh samples of enrolled identities), their identity (n_probes,).

    Written chunk by chunk (``chunk`` identities at a time, ~100 MB of temporaries) straight into
    one float32 array, ``out`` when given (shape (n, D), float32, C-contiguous), so 10M x 128
    needs the 5.1 GB of the result and little more. The same seed gives the same vectors whatever
    the chunk."""
    rng = np.random.default_rng(seed)
    dim = len(model.mean)
    n_ids = -(-n // per_identity)
    if out is None:
        out = np.empty((n, dim), np.float32)
    elif out.shape != (n, dim) or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float32 array of shape {(n, dim)}")
    gallery = out
    owner = np.repeat(np.arange(n_ids), per_identity)[:n]
    probe_owner = rng.choice(n_ids, size=n_probes, replace=n_probes > n_ids)
    probes = np.empty((n_probes, dim), np.float32)

    def noise(count: int) -> np.ndarray:
        scale = rng.choice(model.spread, size=count)[:, None]
        return scale * (rng.standard_normal((count, dim)) @ model.within.T)

    for start in range(0, n_ids, chunk):
        stop = min(n_ids, start + chunk)
        means = model.mean + rng.standard_normal((stop - start, dim)) @ model.between.T
        lo, hi = start * per_identity, min(n, stop * per_identity)  # owner is sorted
        x = means[owner[lo:hi] - start] + noise(hi - lo)
        gallery[lo:hi] = x / np.linalg.norm(x, axis=1, keepdims=True)
        mine = np.flatnonzero((probe_owner >= start) & (probe_owner < stop))
        x = means[probe_owner[mine] - start] + noise(len(mine))
        probes[mine] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return gallery, owner, probes, probe_owner


def exact_top1(
    gallery: np.ndarray, queries: np.ndarray, *, rows: int = 500_000, block: int = 256
) -> np.ndarray:
    """Row of each query's best inner product in ``gallery`` (exact), in blocks of ``block``
    queries x ``rows`` gallery rows (512 MB of scores at most)."""
    best = np.full(len(queries), -np.inf, np.float32)
    arg = np.zeros(len(queries), np.int64)
    for r in range(0, len(gallery), rows):
        part = gallery[r : r + rows]
        for s in range(0, len(queries), block):
            scores = queries[s : s + block] @ part.T
            col = np.argmax(scores, axis=1)
            top = scores[np.arange(len(col)), col]
            better = top > best[s : s + block]
            best[s : s + block] = np.where(better, top, best[s : s + block])
            arg[s : s + block] = np.where(better, r + col, arg[s : s + block])
    return arg


def memory_mb() -> tuple[float, float]:
    """(resident MB now, peak resident MB since the last :func:`reset_peak`)."""
    got = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            got[line.split(":")[0]] = int(line.split()[1]) / 1024
    return got.get("VmRSS", float("nan")), got.get("VmHWM", float("nan"))


def reset_peak() -> None:
    """Start a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM)."""
    gc.collect()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_clock() -> tuple[float, float, float]:
    """(wall s, CPU s used by every process on the machine, CPU s used by this one)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
    own = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), busy, own.ru_utime + own.ru_stime


def others_share(start: tuple[float, float, float]) -> float:
    """The share of the machine's CPUs that other processes used since ``start`` (NaN over less
    than half a second: the kernel counts CPU time in 10 ms ticks)."""
    end = cpu_clock()
    wall = end[0] - start[0]
    if wall < 0.5:
        return float("nan")
    return max(0.0, (end[1] - start[1]) - (end[2] - start[2])) / (wall * (os.cpu_count() or 1))


def wait_quiet(most_s: float = 180.0, share: float = 0.1) -> float:
    """Wait (up to ``most_s``) until other processes use under ``share`` of the CPUs over a
    second; this machine is shared. Returns the seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < most_s:
        clock = cpu_clock()
        time.sleep(1.0)
        if others_share(clock) < share:
            break
    return time.perf_counter() - start


def paired(fns: list[Any], queries: np.ndarray, count: int) -> list[np.ndarray]:
    """Latencies (ms) of each function on the same queries, interleaved query by query so that
    both see the same machine (a shared one: other work comes and goes)."""
    for q in queries[:5]:
        for fn in fns:
            fn(q)
    out = np.empty((len(fns), count))
    for i in range(count):
        for j, fn in enumerate(fns):
            t = time.perf_counter()
            fn(queries[i % len(queries)])
            out[j, i] = time.perf_counter() - t
    return list(out * 1e3)


def latencies(fn: Any, queries: np.ndarray, count: int) -> np.ndarray:
    for q in queries[:20]:  # warm up
        fn(q)
    out = np.empty(count)
    for i in range(count):
        q = queries[i % len(queries)]
        t = time.perf_counter()
        fn(q)
        out[i] = time.perf_counter() - t
    return out * 1e3


def _say(n: int, text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {n:,}: {text}", flush=True)


def _mb(x: float) -> float:
    return float(x) / 2**20


def _linear_scans(
    gallery: np.ndarray,
    index: Any,
    probes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latencies (ms) of the linear scan (interleaved with the index's search on the same probes,
    then the index's) and of face_recognition's ``face_distance`` scan."""
    n = len(gallery)

    def linear(q: np.ndarray) -> None:
        scores = gallery @ q
        np.argpartition(-scores, 5)[:5]

    def fr_style(q: np.ndarray) -> None:  # face_recognition.face_distance + the 5 nearest
        if n <= 2_000_000:
            dist = np.linalg.norm(gallery - q, axis=1)
        else:  # the same, in 1M-row blocks: gallery - q in one go would need another 5 GB
            dist = np.concatenate(
                [
                    np.linalg.norm(gallery[r : r + 1_000_000] - q, axis=1)
                    for r in range(0, n, 1_000_000)
                ]
            )
        np.argpartition(dist, 5)[:5]

    lin, lin_index = paired(
        [linear, lambda q: index.search(q[None, :], 5)],
        probes,
        min(len(probes), max(30, 40_000_000 // n)),
    )
    fr = latencies(fr_style, probes, min(len(probes), max(10, 5_000_000 // n)))
    return lin, lin_index, fr


def run_size(model: FaceModel, n: int, args: argparse.Namespace) -> dict[str, Any]:
    clock = cpu_clock()
    reset_peak()
    rss_base, _ = memory_mb()
    t0 = time.perf_counter()
    gallery, owner, probes, probe_owner = generate(
        model, n, args.per_identity, args.queries, seed=args.seed
    )
    gen_s = time.perf_counter() - t0
    ids = np.arange(n, dtype=np.int64) * 3 + 1  # sample row ids, not positions
    t0 = time.perf_counter()
    truth_rows = exact_top1(gallery, probes)
    truth_s = time.perf_counter() - t0
    truth = ids[truth_rows]
    mated = owner[truth_rows] == probe_owner  # exact search's top-1 is the probe's mate
    identity_rank1 = float(np.mean(mated))
    del owner, truth_rows
    _, peak_data = memory_mb()
    _say(n, f"generated in {gen_s:.0f} s, exact truth in {truth_s:.0f} s")

    waited = wait_quiet(args.quiet_wait)
    reset_peak()
    rss0, _ = memory_mb()
    build_clock = cpu_clock()
    t = time.perf_counter()
    # the index takes the generated array over (no second 5 GB copy at 10M)
    index = build_index(ids, gallery, dim=gallery.shape[1], kind=args.kind, copy=False)
    build_s = time.perf_counter() - t
    build_share = others_share(build_clock)
    gc.collect()
    rss_built, peak_build = memory_mb()
    rss_build = rss_built - rss0
    _say(n, f"built {index!r} in {build_s:.0f} s, RSS {rss_built:,.0f} MB")
    nbytes = index.nbytes  # type: ignore[attr-defined]
    raw_mb = _mb(gallery.nbytes)

    waited += wait_quiet(args.quiet_wait)
    timed = cpu_clock()
    lat = latencies(lambda q: index.search(q[None, :], 5), probes, len(probes))
    found = index.search(probes, 1)[1][:, 0]  # the same search, batched (same results)
    recall = float(np.mean(found == truth))
    recall_mated = float(np.mean(found[mated] == truth[mated]))
    extra: dict[str, Any] = {}
    if isinstance(index, IVFIndex):
        extra = {
            "nlist": index.nlist,
            "nprobe": index.nprobe,
            "rerank": index.rerank,
            "search_threads": index.search_threads,
            "sweep": [],
            "grid": [],
        }
        default_nprobe, default_rerank = index.nprobe, index.rerank
        for nprobe in sorted({max(1, default_nprobe // 4), max(1, default_nprobe // 2)}):
            index.nprobe = nprobe
            got = index.search(probes, 1)[1][:, 0]
            wait_quiet(args.quiet_wait)
            few = latencies(lambda q: index.search(q[None, :], 5), probes, min(300, len(probes)))
            extra["sweep"].append(
                {
                    "nprobe": nprobe,
                    "recall_at_1": float(np.mean(got == truth)),
                    "recall_at_1_mated": float(np.mean(got[mated] == truth[mated])),
                    "p50_ms": float(np.median(few)),
                }
            )
        for cell in args.grid:  # other (nprobe, rerank) settings, for the record
            index.nprobe, index.rerank = cell
            got = index.search(probes, 1)[1][:, 0]
            wait_quiet(args.quiet_wait)
            few = latencies(lambda q: index.search(q[None, :], 5), probes, min(300, len(probes)))
            extra["grid"].append(
                {
                    "nprobe": index.nprobe,
                    "rerank": index.rerank,
                    "recall_at_1": float(np.mean(got == truth)),
                    "p50_ms": float(np.median(few)),
                    "p99_ms": float(np.percentile(few, 99)),
                }
            )
        index.nprobe, index.rerank = default_nprobe, default_rerank
        other = 1 if index.search_threads > 1 else 2
        index.search_threads, default = other, index.search_threads
        lat_other = latencies(lambda q: index.search(q[None, :], 5), probes, len(probes))
        index.search_threads = default
        extra[f"p50_ms_{other}_threads"] = float(np.median(lat_other))
        extra[f"p99_ms_{other}_threads"] = float(np.percentile(lat_other, 99))

    _say(n, f"index p50 {np.median(lat):.3f} ms, recall@1 {recall:.4f}; grid {extra.get('grid')}")
    lin, lin_index, fr = _linear_scans(gallery, index, probes)
    _say(n, f"linear scans p50 {np.median(lin):.1f} / {np.median(fr):.1f} ms")
    timed_share = others_share(timed)

    # the index file (the gallery's cache): save, drop everything, load it back, search again
    folder = Path(args.index_dir or tempfile.mkdtemp(prefix="facewise-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"index-{n}.bin"
    t = time.perf_counter()
    save_index(index, path, generation=1, space_key="identify-scale")
    save_s = time.perf_counter() - t
    file_bytes = path.stat().st_size
    del index, gallery, ids
    reset_peak()
    rss_before_load, _ = memory_mb()
    t = time.perf_counter()
    loaded = load_index(path, generation=1, space_key="identify-scale")
    load_s = time.perf_counter() - t
    assert loaded is not None, "the index file did not load"
    index = loaded
    rss_loaded, peak_load = memory_mb()
    same_after_load = bool(np.array_equal(index.search(probes, 1)[1][:, 0], found))
    _say(n, f"saved in {save_s:.1f} s, loaded in {load_s:.1f} s ({file_bytes / 2**20:,.0f} MB)")
    if not args.index_dir:
        path.unlink()
        folder.rmdir()

    # enrol rate: new identities' vectors added to the loaded index, in one batch and one by one
    reset_peak()
    new, _, _, _ = generate(model, args.enrol_batch + args.enrol_single, 1, 1, seed=args.seed + 1)
    new_ids = (n - 1) * 3 + 1 + 3 + 3 * np.arange(len(new), dtype=np.int64)
    t = time.perf_counter()
    index.add(new_ids[: args.enrol_batch], new[: args.enrol_batch])
    batch_rate = args.enrol_batch / (time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(args.enrol_batch, len(new)):
        index.add(new_ids[i : i + 1], new[i : i + 1])
    single_rate = args.enrol_single / (time.perf_counter() - t)
    t = time.perf_counter()
    for i in new_ids[-20:]:
        index.remove(np.array([i]))
    remove_ms = (time.perf_counter() - t) / 20 * 1e3
    index.remove(new_ids)
    assert len(index) == n
    _, peak_enrol = memory_mb()

    return {
        "size": n,
        "other_processes_cpu_share": others_share(clock),
        "other_processes_cpu_share_while_timing": timed_share,
        "other_processes_cpu_share_during_build": build_share,
        "waited_for_quiet_s": waited,
        "kind": index.kind,
        "generate_s": gen_s,
        "exact_truth_s": truth_s,
        "build_s": build_s,
        "index_bytes": nbytes,
        "raw_bytes": n * model.mean.size * 4,
        "memory_ratio": nbytes / (n * model.mean.size * 4),
        "rss_growth_during_build_mb": rss_build,
        # resident memory over the raw float32 vectors (the index holds them): steady after the
        # build (gallery + index, everything this size allocated), peak while generating and
        # building, and the index alone as loaded from its file
        "rss_raw_mb": raw_mb,
        "rss_steady_after_build_mb": rss_built - rss_base,
        "rss_steady_ratio": (rss_built - rss_base) / raw_mb,
        "rss_peak_generate_mb": peak_data - rss_base,
        "rss_peak_build_mb": peak_build - rss_base,
        "rss_peak_ratio": (max(peak_build, peak_data) - rss_base) / raw_mb,
        "rss_loaded_index_mb": rss_loaded - rss_before_load,
        "rss_loaded_ratio": (rss_loaded - rss_before_load) / raw_mb,
        "rss_peak_load_mb": peak_load - rss_before_load,
        "rss_peak_enrol_mb": peak_enrol - rss_before_load,
        "index_file_bytes": file_bytes,
        "save_s": save_s,
        "load_s": load_s,
        "same_results_after_load": same_after_load,
        "enrol_per_s_batch": batch_rate,
        "enrol_per_s_single": single_rate,
        "remove_one_ms": remove_ms,
        "p50_ms": float(np.median(lat)),
        "p99_ms": float(np.percentile(lat, 99)),
        "queries": len(probes),
        "recall_at_1": recall,
        "recall_at_1_mated": recall_mated,
        "identity_rank1_exact": identity_rank1,
        "linear_p50_ms": float(np.median(lin)),
        "linear_queries": len(lin),
        "fr_distance_p50_ms": float(np.median(fr)),
        "fr_distance_queries": len(fr),
        "index_p50_ms_paired": float(np.median(lin_index)),
        "speedup_vs_linear": float(np.median(lin) / np.median(lin_index)),
        **extra,
    }


def _sizes(text: str) -> list[int]:
    return [int(float(x)) for x in text.replace("_", "").split(",") if x.strip()]


def _grid(text: str) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in (cell.split(":") for cell in text.split(",") if cell)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=_sizes,
        nargs="+",
        default=[[10_000, 100_000, 1_000_000]],
        help="gallery sizes, comma- or space-separated (e.g. 1000000,10000000)",
    )
    parser.add_argument("--queries", type=int, default=1000, help="batch-1 probes per size")
    parser.add_argument("--per-identity", type=int, default=1, help="gallery samples a person")
    parser.add_argument("--kind", default="auto", choices=["auto", "exact", "ivf"])
    parser.add_argument("--enrol-batch", type=int, default=10_000)
    parser.add_argument("--enrol-single", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="processes to embed LFW (no cache)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--grid",
        type=_grid,
        default=[],
        help="extra IVF settings to measure, NPROBE:RERANK,... (for the record)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=180.0,
        help="seconds to wait at most for a quiet machine before each timing",
    )
    parser.add_argument(
        "--index-dir",
        default=None,
        help="where to write the index files (kept); default a temporary folder",
    )
    args = parser.parse_args()
    args.sizes = [n for group in args.sizes for n in group]

    model = face_model(args.workers)
    st = model.stats
    print(
        f"fitted to {st['images']} LFW images, {st['people_with_2plus']} people with >= 2: "
        f"genuine cos real {st['real_genuine_cos'][0]:.3f}±{st['real_genuine_cos'][1]:.3f} / "
        f"synthetic {st['synthetic_genuine_cos'][0]:.3f}±{st['synthetic_genuine_cos'][1]:.3f}; "
        f"impostor real {st['real_impostor_cos'][0]:.3f}±{st['real_impostor_cos'][1]:.3f} / "
        f"synthetic {st['synthetic_impostor_cos'][0]:.3f}±{st['synthetic_impostor_cos'][1]:.3f}",
        flush=True,
    )
    rows = []
    for n in args.sizes:
        row = run_size(model, n, args)
        rows.append(row)
        print(f"{n}: {row}", flush=True)

    head = (
        "| gallery | index | build s | memory MB (x raw f32) | enrol/s batch / single | "
        "p50 ms | p99 ms | recall@1 (mated) | linear `gallery @ q` p50 ms | "
        "speed-up: p50s / interleaved | face_distance p50 ms | identity rank-1 |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in rows:
        kind = r["kind"] + (
            f" (nlist {r['nlist']}, nprobe {r['nprobe']}, rerank {r['rerank']})"
            if r["kind"] == "ivf"
            else ""
        )
        lines.append(
            f"| {r['size']:,} | {kind} | {r['build_s']:.1f} | {r['index_bytes'] / 2**20:,.0f} "
            f"({r['memory_ratio']:.2f}x) | {r['enrol_per_s_batch']:,.0f} / "
            f"{r['enrol_per_s_single']:,.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | "
            f"{r['recall_at_1']:.3f} ({r['recall_at_1_mated']:.3f}) | {r['linear_p50_ms']:.2f} | "
            f"{r['linear_p50_ms'] / r['p50_ms']:.1f}x / {r['speedup_vs_linear']:.1f}x | "
            f"{r['fr_distance_p50_ms']:.1f} | {r['identity_rank1_exact']:.3f} |"
        )
    mem_head = (
        "| gallery | raw f32 MB | RSS steady after build MB (x raw) | RSS peak, generate + "
        "build MB (x raw) | index loaded from its file, RSS MB (x raw) | index file MB | "
        "save s | load s | generate s | exact truth s |"
    )
    mem = [mem_head, "|" + "---|" * mem_head.count(" | ") + "---|"]
    for r in rows:
        mem.append(
            f"| {r['size']:,} | {r['rss_raw_mb']:,.0f} | {r['rss_steady_after_build_mb']:,.0f} "
            f"({r['rss_steady_ratio']:.2f}x) | "
            f"{max(r['rss_peak_build_mb'], r['rss_peak_generate_mb']):,.0f} "
            f"({r['rss_peak_ratio']:.2f}x) | {r['rss_loaded_index_mb']:,.0f} "
            f"({r['rss_loaded_ratio']:.2f}x) | {r['index_file_bytes'] / 2**20:,.0f} | "
            f"{r['save_s']:.1f} | {r['load_s']:.1f} | {r['generate_s']:.1f} | "
            f"{r['exact_truth_s']:.1f} |"
        )
    grids = [
        f"{r['size']:,}: "
        + "; ".join(
            f"nprobe {x['nprobe']} rerank {x['rerank']}: recall@1 {x['recall_at_1']:.3f}, "
            "p50 / p99 "
            f"{x['p50_ms']:.3f} / {x['p99_ms']:.3f} ms"
            for x in r["grid"]
        )
        for r in rows
        if r.get("grid")
    ]
    sweeps = [
        f"{r['size']:,}: "
        + "; ".join(
            f"nprobe {x['nprobe']}: recall@1 {x['recall_at_1']:.3f} (mated "
            f"{x['recall_at_1_mated']:.3f}), p50 {x['p50_ms']:.3f} ms"
            for x in r["sweep"]
        )
        + f"; nprobe {r['nprobe']}: recall@1 {r['recall_at_1']:.3f} (mated "
        f"{r['recall_at_1_mated']:.3f}), p50 {r['p50_ms']:.3f} ms"
        for r in rows
        if "sweep" in r
    ]

    def pct(x: float) -> str:
        return "—" if np.isnan(x) else f"{x:.0%}"

    others = ", ".join(
        f"{r['size']:,}: {pct(r['other_processes_cpu_share_during_build'])} / "
        f"{pct(r['other_processes_cpu_share_while_timing'])}"
        for r in rows
    )
    threads = [
        f"{r['size']:,}: p50 / p99 {r['p50_ms']:.3f} / {r['p99_ms']:.3f} ms with "
        f"{r['search_threads']} (default), {r[f'p50_ms_{o}_threads']:.3f} / "
        f"{r[f'p99_ms_{o}_threads']:.3f} ms with {o}"
        for r in rows
        if "search_threads" in r
        for o in [1 if r["search_threads"] > 1 else 2]
    ]
    m = machine()
    notes = [
        f"Face-like 128-D vectors fitted to {st['images']} real dlib embeddings of LFW "
        f"({st['people_with_2plus']} people with >= 2 images); cosine of genuine pairs real "
        f"{st['real_genuine_cos'][0]:.3f}±{st['real_genuine_cos'][1]:.3f} vs synthetic "
        f"{st['synthetic_genuine_cos'][0]:.3f}±{st['synthetic_genuine_cos'][1]:.3f}, impostors "
        f"{st['real_impostor_cos'][0]:.3f}±{st['real_impostor_cos'][1]:.3f} vs "
        f"{st['synthetic_impostor_cos'][0]:.3f}±{st['synthetic_impostor_cos'][1]:.3f}. "
        f"{args.per_identity} gallery sample(s) per identity; {args.queries} probes (fresh "
        f"samples of enrolled identities), batch 1, top-5.",
        f"index kind {args.kind} (auto = exact below {EXACT_LIMIT:,}); recall@1 = the index's "
        "top-1 id equals exact search's; identity rank-1 = exact search's top-1 is the probe's "
        "own identity (how hard the gallery is). Linear scan and face_distance are timed in the "
        "same run on the same probes. Speed-up: linear p50 over the index's p50 (each timed in its "
        "own loop, warm caches), and the p50s when linear scan and index run in turn on each "
        "probe (" + ", ".join(f"{r['linear_queries']}" for r in rows) + " probes; the scan "
        "evicts the index from the caches, as other work between queries does in a real "
        "service). Memory = the index's "
        "bytes (float32 matrix, ids, FAISS codes) over the raw float32 vectors. "
        "Enrol: vectors/s added to the built index "
        f"({args.enrol_batch:,} in one call / {args.enrol_single} one at a time).",
        *(
            [
                "Smaller scans (recall@1 over all probes, and over the probes whose exact top-1 is "
                "their mate): " + " | ".join(sweeps) + "."
            ]
            if sweeps
            else []
        ),
        *(
            [
                "Other IVF settings (recall@1; batch-1 latency over 300 probes): "
                + " | ".join(grids)
                + "."
            ]
            if grids
            else []
        ),
        "Resident memory (VmRSS / VmHWM of this process, less what it held before the size "
        "began): steady = the generated gallery, which the index takes over "
        "(`build_index(copy=False)`), plus everything the index added; peak = the most it held "
        "while generating, computing exact ground truth (in blocks) and building; loaded = the "
        "index alone, read back from its file after everything else was freed. The file is "
        "read straight after it was written (from the page cache; a cold disk is slower). "
        "Enrolment's peak (the matrix grows by copying): "
        + ", ".join(f"{r['size']:,}: {r['rss_peak_enrol_mb']:,.0f} MB" for r in rows)
        + ". "
        "Results after loading the file are identical to before: "
        + ", ".join(f"{r['size']:,}: {r['same_results_after_load']}" for r in rows)
        + ".",
        *(
            [
                "IVF search threads at batch 1 (the cells scanned in two halves, on two threads or "
                "one after the other): " + "; ".join(threads) + "."
            ]
            if threads
            else []
        ),
        "Share of the CPUs used by other processes during the build / while latencies were "
        f"timed: {others} (this machine is shared; the script waits for a quiet second before "
        "each).",
        f"Python {m['python']}, {m['cpus']} CPUs, {m['machine']}, {m['date']}.",
    ]
    markdown = "\n".join(["# Identification at scale", "", *lines, "", *mem, "", *notes])
    print()
    print(markdown)
    target = write_result(
        "identify_scale", markdown, {"machine": m, "args": vars(args), "model": st, "rows": rows}
    )
    print(f"\nwritten to {target}")


if __name__ == "__main__":
    main()
