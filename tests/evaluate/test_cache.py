"""The embedding cache: vectors equal the Engine's, runs resume after an interruption, changed
files are recomputed, failures are kept with their reason."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from facewise import Engine
from facewise.evaluate.cache import embed_images, resolve_pipeline

pytestmark = [pytest.mark.models, pytest.mark.data]


@pytest.fixture()
def images(lfw: Path, tmp_path: Path, no_face_photo: Path) -> Path:
    root = tmp_path / "root"
    people = ["Aaron_Sorkin", "Aaron_Patterson"]
    for person in people:
        shutil.copytree(lfw / "images" / person, root / person)
    shutil.copy(no_face_photo, root / "coffee.png")
    return root


def _paths(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_vectors_equal_the_engine_and_pipelines_share_detection(
    images: Path, tmp_path: Path
) -> None:
    flip, plain = resolve_pipeline(flip=True), resolve_pipeline(flip=False)
    paths = _paths(images)
    both = embed_images(images, paths, [flip, plain], cache_dir=tmp_path / "c", workers=1)
    for pipeline, emb in zip((flip, plain), both, strict=True):
        engine = Engine(detector=pipeline.detector, embedder=pipeline.embedder, flip=pipeline.flip)
        assert emb.space == engine.space
        for i, p in enumerate(paths):
            faces = engine.embed(images / p, largest=True)
            if not faces:
                assert emb.reasons[i] == "no face found" and np.isnan(emb.vectors[i]).all()
                continue
            assert faces[0].embedding is not None
            np.testing.assert_allclose(emb.vectors[i], faces[0].embedding.vector, atol=1e-5)
            assert emb.boxes[i].tolist() == pytest.approx(faces[0].bbox.as_list(), abs=0.01)
    assert both[0].reasons == both[1].reasons and both[0].reasons.count("no face found") == 1
    # adding a pipeline computes only what it lacks
    hog = resolve_pipeline(detector="hog", flip=False)
    more = embed_images(images, paths, [flip, plain, hog], cache_dir=tmp_path / "c", workers=1)
    assert [e.computed for e in more] == [0, 0, len(paths)]
    np.testing.assert_array_equal(more[0].vectors, both[0].vectors)


def test_an_interrupted_run_resumes(images: Path, tmp_path: Path) -> None:
    pipeline = resolve_pipeline()
    paths = _paths(images)
    cache = tmp_path / "c"
    seen: list[int] = []

    def stop_after_three(done: int, total: int) -> None:
        seen.append(done)
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        embed_images(
            images,
            paths,
            [pipeline],
            cache_dir=cache,
            workers=1,
            chunk=2,
            progress=stop_after_three,
        )
    [again] = embed_images(images, paths, [pipeline], cache_dir=cache, workers=1)
    assert again.computed == len(paths) - 3  # the three finished before the stop were kept
    [fresh] = embed_images(images, paths, [pipeline], cache_dir=tmp_path / "other", workers=1)
    np.testing.assert_array_equal(again.vectors, fresh.vectors)
    assert again.reasons == fresh.reasons
    # a changed file (new mtime) is recomputed, and only that one
    target = images / paths[0]
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    [third] = embed_images(images, paths, [pipeline], cache_dir=cache, workers=1)
    assert third.computed == 1
    # a file that is gone fails with its reason, the rest come from the cache
    target.unlink()
    [fourth] = embed_images(images, paths, [pipeline], cache_dir=cache, workers=1)
    assert fourth.computed == 0 and fourth.reasons[0] == "missing file"
    assert np.isnan(fourth.vectors[0]).all() and not np.isnan(fourth.vectors[1]).any()
