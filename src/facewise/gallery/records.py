"""What the gallery stores: people, samples with consent and provenance, audit events."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


def utc_now() -> str:
    """The current time as an ISO-8601 UTC string with seconds, e.g. 2026-11-30T03:55:12Z."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    name: str
    created_at: str
    samples: int


@dataclass(frozen=True, slots=True)
class SampleInfo:
    """Consent and provenance of one enrolled face (never the vector)."""

    id: int
    person: str
    image_sha256: str
    source: str
    consent: str
    enrolled_at: str
    enrolled_by: str
    expires_at: str | None
    quality: float
    bbox: tuple[float, float, float, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "person": self.person,
            "image_sha256": self.image_sha256,
            "source": self.source,
            "consent": self.consent,
            "enrolled_at": self.enrolled_at,
            "enrolled_by": self.enrolled_by,
            "expires_at": self.expires_at,
            "quality": round(self.quality, 4),
            "bbox": list(self.bbox),
        }


@dataclass(frozen=True, slots=True)
class NewSample:
    """A face to enrol: its vector (float32 (D,), L2-normalised) and where it came from."""

    vector: npt.NDArray[np.float32]
    image_sha256: str
    source: str
    quality: float
    bbox: tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class AuditEvent:
    seq: int
    at: str
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }
