"""The service runs sync routes in a thread pool over one Engine per process: concurrent calls
into the models must be safe. (dlib's HOG detector is not: without its lock, a few hundred
concurrent detections corrupt the heap and kill the worker.) Run in a subprocess, so a crash
fails this test instead of ending the test session."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.models, pytest.mark.data]

SCRIPT = textwrap.dedent(
    """
    import sys, threading
    from facewise.engine import Engine

    engine = Engine()
    images = [engine.load_image(p) for p in sys.argv[1:]]
    expected = [len(engine.detect(image)) for image in images]
    found, errors = [], []

    def work(k):
        try:
            for i in range(60):
                j = (i * 7 + k) % len(images)
                faces = engine.embed(images[j]) if i % 10 == 0 else engine.detect(images[j])
                found.append(len(faces) == expected[j])
        except BaseException as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("ok" if all(found) and not errors and len(found) == 480 else f"bad {errors[:3]}")
    """
)


def test_concurrent_detection_and_embedding(
    lfw_people: dict[str, list[Path]], group_photo: Path
) -> None:
    photos = [p for ps in lfw_people.values() for p in ps[:4]] + [group_photo]
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, *map(str, photos)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, f"exit {run.returncode}: {run.stderr[-2000:]}"
    assert run.stdout.strip().splitlines()[-1] == "ok", run.stdout + run.stderr[-2000:]
