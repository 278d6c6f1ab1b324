"""Results as JSON-able dicts: the one module the CLI (``--json``) and the REST service both
use, so ``facewise X --json`` and ``POST /v1/X`` give the same shapes (the service's response
models in ``server/schemas.py`` describe these dicts; a test checks that they agree)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from facewise.types import Detection, Face, Verification

if TYPE_CHECKING:
    from facewise.gallery.gallery import Decision, EnrollResult, Identification
    from facewise.gallery.records import AuditEvent, Person, SampleInfo
    from facewise.liveness import Liveness


def detection_dict(det: Detection) -> dict[str, Any]:
    marks = (
        []
        if det.landmarks is None
        else [[round(float(x), 1), round(float(y), 1)] for x, y in det.landmarks]
    )
    return {
        "bbox": det.bbox.as_list(),
        "score": round(det.score, 4),
        "landmarks": marks,
        "landmark_scheme": det.landmark_scheme,
        "detector": det.detector,
    }


def face_dict(face: Face, *, with_vector: bool = True) -> dict[str, Any]:
    out = detection_dict(face.detection)
    if with_vector and face.embedding is not None:
        out["embedding"] = [float(v) for v in face.embedding.vector]
    return out


def verification_dict(v: Verification) -> dict[str, Any]:
    return {
        "verified": v.verified,
        "score": round(v.score, 6),
        "threshold": round(v.threshold, 6),
        "operating_point": v.operating_point,
        "fmr": _rate(v.fmr),
        "metric": v.metric,
        "model": v.model,
        "face_a": face_dict(v.face_a, with_vector=False),
        "face_b": face_dict(v.face_b, with_vector=False),
    }


def analysis_dict(face: Face, what: list[str]) -> dict[str, Any]:
    """A face's analysis as the CLI prints it: bbox, detected, then the asked-for attributes."""
    attrs = dict(face.attributes)
    if "landmarks" not in what:
        attrs.pop("landmarks68", None)
    if "pose" not in what:
        attrs.pop("pose", None)
    return {"bbox": face.bbox.as_list(), **attrs}


def detections_dict(found: Iterable[Detection]) -> dict[str, Any]:
    """``facewise detect --json`` for one image (without its ``path``)."""
    return {"faces": [detection_dict(d) for d in found]}


def embeddings_dict(faces: Iterable[Face], space: dict[str, Any]) -> dict[str, Any]:
    """``facewise embed --json`` for one image (without its ``path``)."""
    return {"faces": [face_dict(f) for f in faces], "space": space}


def analyses_dict(faces: Iterable[Face], what: list[str]) -> dict[str, Any]:
    """``facewise analyze --json`` for one image (without its ``path``)."""
    return {"faces": [analysis_dict(f, what) for f in faces]}


def liveness_dict(results: Iterable[Liveness]) -> dict[str, Any]:
    """``facewise liveness --json`` for one image (without its ``path``): every face's box,
    verdict, live probability and the threshold it was judged at."""
    return {"faces": [r.as_dict() for r in results]}


def liveness_field(result: Liveness) -> dict[str, Any]:
    """The ``liveness`` field that verify and identify add to a face with ``--liveness``."""
    out = result.as_dict()
    out.pop("bbox")
    return out


def _rate(value: float | None) -> float | None:
    """A rate for JSON: four significant digits (they span 1 to 1e-12)."""
    return None if value is None else float(f"{value:.4g}")


def decision_dict(d: Decision) -> dict[str, Any]:
    """The open-set decision of one probe: the score, the threshold that holds the target FPIR
    for this gallery, and what the score means (``fmr``, ``fpir_at_score``)."""
    return {
        "person": d.person,
        "accepted": d.accepted,
        "score": d.score,
        "threshold": round(d.threshold, 6),
        "fpir": d.fpir,
        "fpir_at_score": _rate(d.fpir_at_score),
        "fmr": _rate(d.fmr),
        "gallery_size": d.gallery_size,
    }


def identification_dict(r: Identification) -> dict[str, Any]:
    """One probe face of ``facewise identify --json``: box, open-set decision, candidates."""
    return {
        "bbox": r.face.bbox.as_list(),
        "decision": decision_dict(r.decision),
        "candidates": [{"person": c.person, "score": c.score} for c in r.candidates],
    }


def enroll_dict(result: EnrollResult) -> dict[str, Any]:
    return {"person": result.person, "enrolled": result.enrolled, "skipped": result.skipped}


def people_dict(rows: Iterable[Person]) -> dict[str, Any]:
    return {
        "people": [{"name": p.name, "samples": p.samples, "created_at": p.created_at} for p in rows]
    }


def person_dict(person: Person, samples: Iterable[SampleInfo]) -> dict[str, Any]:
    """A person with the consent and provenance of each sample (never a vector)."""
    return {
        "name": person.name,
        "created_at": person.created_at,
        "samples": [s.as_dict() for s in samples],
    }


def audit_events_dict(events: Iterable[AuditEvent]) -> dict[str, Any]:
    return {"events": [e.as_dict() for e in events]}


def audit_verify_dict(events: Sequence[AuditEvent]) -> dict[str, Any]:
    """``facewise audit --verify --json``: whether the hash chain is intact, and where not."""
    from facewise.gallery.audit import verify_chain

    ok, bad, why = verify_chain(events)
    return {"ok": ok, "events": len(events), "first_bad_seq": bad, "message": why}
