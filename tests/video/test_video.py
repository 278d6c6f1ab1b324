"""facewise video and facewise blur on short synthetic clips made of real LFW faces (written with
PyAV here): timeline names, the interface JSON, the tracker's hold, blur coverage through forced
misses, metadata and audio, --keep, and clear failures for a corrupt clip and a dead camera."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image as PILImage

from facewise.cli.main import main
from facewise.types import BBox, Detection, Image
from facewise.video import synthetic as sy
from facewise.video.tracker import Tracker

pytestmark = [pytest.mark.models, pytest.mark.data]

ENROLLED = ("Colin_Powell", "Tony_Blair")
STRANGER = "Aaron_Sorkin"


def run(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"FACEWISE_HOME": str(home)})
    return result.exit_code, result.output


def still(lfw: Path, name: str, k: int) -> Image:
    path = lfw / "images" / name / f"{name}_{k:04d}.jpg"
    return np.asarray(PILImage.open(path).convert("RGB"))


def actor(engine: Any, lfw: Path, name: str, k: int, **kw: Any) -> sy.Actor:
    img = still(lfw, name, k)
    face = max(engine.detector.detect(img), key=lambda d: d.bbox.area)
    return sy.Actor(name, img, face.bbox, **kw)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, engine: Any, lfw: Path) -> Path:
    """A gallery with two people (3 photos each, consent given)."""
    from facewise.gallery import Gallery
    from facewise.settings import load_settings

    home = tmp_path_factory.mktemp("home")
    with Gallery.from_settings(load_settings(home=home), engine) as gallery:
        for name in ENROLLED:
            imgs = [lfw / "images" / name / f"{name}_{k:04d}.jpg" for k in (1, 2, 3)]
            gallery.enroll(name, imgs, consent="test: public figure", actor="test")
    return home


@pytest.fixture(scope="module")
def clip(engine: Any, lfw: Path) -> sy.Clip:
    """3 s at 25 fps, 640 x 360: the two enrolled people (photos not enrolled) and a stranger;
    Blair leaves for 0.6 s, a bar sweeps across."""
    actors = [
        actor(engine, lfw, "Colin_Powell", 6, start=(120, 170), velocity=(1.5, 0.2), scale=0.8),
        actor(engine, lfw, "Tony_Blair", 6, start=(320, 180), scale=0.7, absent=((30, 45),)),
        actor(engine, lfw, STRANGER, 1, start=(520, 170), velocity=(-1.0, 0), growth=0.002),
    ]
    return sy.render(actors, 75, occluder=(55, 70, 25))


@pytest.fixture(scope="module")
def clip_file(clip: sy.Clip, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "people.mp4"
    return sy.write(
        clip.frames,
        path,
        audio=True,
        metadata={"title": "secret title", "location": "+40.7128-074.0060/", "artist": "Ada"},
    )


def test_video_json_timeline_names_people_and_leaves_the_stranger_unknown(
    home: Path, clip_file: Path, tmp_path: Path
) -> None:
    csv_path = tmp_path / "timeline.csv"
    code, out = run(home, "video", str(clip_file), "--json", "--every", "3", "--csv", str(csv_path))
    assert code == 0, out
    result = json.loads(out)
    assert {"timeline", "tracks", "fps", "frames"} <= set(result)
    assert result["frames"] == 75 and result["fps"] == 25.0
    for row in result["timeline"]:
        assert {"person", "start", "end", "track", "confidence"} <= set(row)
        assert 0 <= row["start"] < row["end"] <= 3.0 + 1e-6
    people = {r["person"] for r in result["timeline"]}
    assert set(ENROLLED) <= people
    assert people <= {*ENROLLED, None}
    assert None in people  # the stranger's track
    # Powell is there all along: his segments cover most of the clip
    powell = [r for r in result["timeline"] if r["person"] == "Colin_Powell"]
    assert sum(r["end"] - r["start"] for r in powell) >= 2.5
    # Blair leaves at 1.2 s and comes back at 1.8 s
    blair = [r for r in result["timeline"] if r["person"] == "Tony_Blair"]
    assert min(r["start"] for r in blair) < 0.2 and max(r["end"] for r in blair) > 2.8
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("person,start,end,track,confidence")
    assert len(lines) == len(result["timeline"]) + 1


def test_annotated_copy_keeps_frames_and_audio(home: Path, clip_file: Path, tmp_path: Path) -> None:
    import av

    out = tmp_path / "annotated.mp4"
    code, text = run(home, "video", str(clip_file), "--json", "--out", str(out))
    assert code == 0, text
    with av.open(str(out)) as container:
        assert container.streams.audio, "the annotated copy keeps the audio"
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == 75


def _box(x: float) -> Detection:
    return Detection(BBox(x, 100, x + 60, 170), 0.9, None, "test")


def test_tracker_holds_a_face_through_twelve_missed_frames() -> None:
    tracker = Tracker(hold=12)
    ids = set()
    for f in range(10):
        drawn, matches = tracker.update(f, [_box(100 + 2 * f)])
        ids.add(matches[0])
    for f in range(10, 22):  # the detector misses 12 frames in a row
        drawn, _ = tracker.update(f, [])
        assert len(drawn) == 1 and not drawn[0].observed
        assert abs(drawn[0].box[0] - (100 + 2 * f)) < 4  # moved along its velocity
    drawn, matches = tracker.update(22, [_box(144)])
    ids.add(matches[0])
    assert ids == {1}, "re-found as the same track"
    for f in range(23, 40):
        drawn, _ = tracker.update(f, [])
    assert tracker.predict(40) == []  # held for 12 frames only


class Blinking:
    """The YuNet detector, blind on frames [20, 32) and [50, 62): 12 misses in a row, twice."""

    name = "blinking"

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def detect(self, image: Image) -> list[Detection]:
        n = self.calls
        self.calls += 1
        if 20 <= n < 32 or 50 <= n < 62:
            return []
        found: list[Detection] = self.inner.detect(image)
        return found


def _changed(a: Image, b: Image, box: BBox, bar: tuple[int, int, int, int] | None = None) -> float:
    """Mean absolute change inside ``box``, leaving out the columns under the occluding bar."""
    x1, y1, x2, y2 = (round(v) for v in (box.x1, box.y1, box.x2, box.y2))
    diff = np.abs(a[y1:y2, x1:x2].astype(np.float64) - b[y1:y2, x1:x2].astype(np.float64))
    keep = np.ones(diff.shape[1], dtype=bool)
    if bar is not None:
        cols = np.arange(x1, x2)
        keep = (cols < bar[0]) | (cols >= bar[2])
    return float(diff[:, keep].mean()) if keep.any() else 255.0


def test_blur_covers_every_face_on_every_frame_through_forced_misses(
    engine: Any, clip: sy.Clip, clip_file: Path, tmp_path: Path
) -> None:
    import av

    from facewise.compare import similarity, threshold
    from facewise.video.jobs import blur_video, video_detector

    out = tmp_path / "blurred.mp4"
    report = blur_video(
        engine,
        clip_file,
        out,
        method="pixelate",
        keep=set(),
        gallery=None,
        detector=Blinking(video_detector(engine, score=0.5)),
    )
    assert report["frames"] == 75 and report["filled_boxes"] > 0 and report["audio"] is False
    with av.open(str(out)) as container:
        assert not container.streams.audio
        blurred: list[Image] = [
            np.asarray(f.to_ndarray(format="rgb24"), dtype=np.uint8)
            for f in container.decode(video=0)
        ]
    assert len(blurred) == 75 and blurred[0].shape == (360, 640, 3)
    uncovered = []
    for f, rows in enumerate(clip.truth):
        for row in rows:
            bar = clip.occluders[f]
            if row.visible >= 0.3 and _changed(clip.frames[f], blurred[f], row.box, bar) < 8:
                uncovered.append((f, row.identity))
    assert uncovered == [], uncovered[:20]
    # our own recogniser no longer matches a blurred face with its original
    limit = threshold(engine.space, "fmr")
    matched = 0
    for f in (5, 25, 55):
        for row in clip.truth[f]:
            det = Detection(row.box, 1.0, None, "truth")
            [orig] = engine.embed_detections(clip.frames[f], [det])
            [hidden] = engine.embed_detections(blurred[f], [det])
            assert orig.embedding is not None and hidden.embedding is not None
            matched += similarity(orig.embedding, hidden.embedding) >= limit
    assert matched == 0


def test_blurred_video_loses_its_tags_and_audio_unless_asked(
    home: Path, clip_file: Path, tmp_path: Path
) -> None:
    import av

    for flag, audio in (([], False), (["--keep-audio"], True)):
        out = tmp_path / f"out{len(flag)}.mp4"
        code, text = run(home, "blur", str(clip_file), str(out), "--json", *flag)
        assert code == 0, text
        report = json.loads(text)
        assert report["frames"] == 75 and report["audio"] is audio
        with av.open(str(out)) as container:
            tags = {k.lower(): v for k, v in container.metadata.items()}
            stream_tags = [dict(s.metadata) for s in container.streams]
            assert bool(container.streams.audio) is audio
            assert container.streams.video[0].codec_context.width == 640
            assert sum(1 for _ in container.decode(video=0)) == 75
        text_tags = json.dumps([tags, stream_tags]).lower()
        for secret in ("secret title", "40.7128", "ada", "location", "encoder", "lavf"):
            assert secret not in text_tags, (secret, tags)


def _two_faces(lfw: Path) -> tuple[Image, BBox, BBox]:
    a, b = still(lfw, "Colin_Powell", 8), still(lfw, STRANGER, 2)
    return np.ascontiguousarray(np.hstack([a, b])), BBox(75, 75, 175, 185), BBox(325, 75, 425, 185)


def test_image_blur_strips_exif_gps_and_keeps_only_the_consenting_person(
    home: Path, lfw: Path, tmp_path: Path
) -> None:
    image, powell, stranger = _two_faces(lfw)
    src = tmp_path / "in.jpg"
    exif = PILImage.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x8825] = {1: "N", 2: (40.0, 42.0, 46.0), 3: "W", 4: (74.0, 0.0, 21.0)}  # GPS IFD
    PILImage.fromarray(image).save(src, exif=exif.tobytes(), quality=95)
    assert PILImage.open(src).getexif().get_ifd(0x8825)

    plain = tmp_path / "all.jpg"
    code, text = run(home, "blur", str(src), str(plain), "--json")
    assert code == 0, text
    assert json.loads(text)["faces"] == 2
    with PILImage.open(plain) as out:
        assert not out.getexif() and "exif" not in out.info and "xmp" not in out.info
        pixels = np.asarray(out.convert("RGB"))
    assert pixels.shape == image.shape
    assert _changed(image, pixels, powell) > 8 and _changed(image, pixels, stranger) > 8

    kept = tmp_path / "kept.jpg"
    code, text = run(home, "blur", str(src), str(kept), "--keep", "Colin_Powell", "--json")
    assert code == 0, text
    report = json.loads(text)
    assert [k["person"] for k in report["kept"]] == ["Colin_Powell"]
    pixels = np.asarray(PILImage.open(kept).convert("RGB"))
    assert _changed(image, pixels, powell) < 4 and _changed(image, pixels, stranger) > 8

    code, text = run(home, "blur", str(src), str(kept), "--keep", "Nobody", "--json")
    assert code != 0 and "Nobody" in text


def test_a_corrupt_clip_and_a_dead_camera_fail_fast_and_clearly(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    start = time.monotonic()
    code, text = run(home, "video", str(bad), "--json")
    assert code == 3 and json.loads(text)["error"]["code"] == "image_decode_error"
    assert "Traceback" not in text
    code, text = run(home, "video", "rtsp://admin:hunter2@127.0.0.1:9/x", "--json")
    assert code == 2 and "cannot open the video source" in json.loads(text)["error"]["message"]
    assert "hunter2" not in text and "admin" not in text and "Traceback" not in text
    code, text = run(home, "video", str(tmp_path / "missing.mp4"), "--json")
    assert code == 2
    assert time.monotonic() - start < 20
