"""What the gallery stores: people, samples with consent and provenance, audit events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


def utc_now() -> str:
    """The current time as an ISO-8601 UTC string with seconds, e.g. 2026-11-30T03:55:12Z."""
    return iso_form(dt.datetime.now(dt.UTC))


def iso_form(moment: dt.datetime) -> str:
    """An aware datetime as the store's form YYYY-MM-DDTHH:MM:SSZ, the year always four digits
    (``strftime("%Y")`` writes year 999 as ``999``, which sorts after ``2026``)."""
    u = moment.astimezone(dt.UTC)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}Z"


def parse_time(value: object) -> str:
    """A date (YYYY-MM-DD) or ISO datetime as the store's UTC form; a naive time is UTC.
    Anything else, including a time that is outside years 1-9999 once in UTC, is
    :class:`~facewise.errors.InvalidInput` (never an OverflowError)."""
    from facewise.errors import InvalidInput

    if not isinstance(value, str) or not 4 <= len(value) <= 40:
        raise InvalidInput("not a date: use YYYY-MM-DD or an ISO datetime (at most 40 characters)")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"not a date: {value!r} (use YYYY-MM-DD or an ISO datetime)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        return iso_form(parsed)
    except (OverflowError, ValueError):
        raise InvalidInput(f"{value!r} is outside the years 1-9999 in UTC") from None


class Added(list[int]):
    """The sample ids a store enrolled, in order, and in ``dropped`` the positions (in the
    samples given) of those it did not store because the person already had that image (or the
    same image came twice), decided inside the enrolment's own write; ``person_id`` says whose
    samples they are."""

    def __init__(
        self, ids: Iterable[int] = (), dropped: Iterable[int] = (), person_id: int | None = None
    ) -> None:
        super().__init__(ids)
        self.dropped = list(dropped)
        self.person_id = person_id


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
