"""What the gallery answers: candidates, open-set decisions, identifications, enrollments."""

from __future__ import annotations

from dataclasses import dataclass, field

from facewise.types import Face


@dataclass(frozen=True, slots=True)
class Candidate:
    person: str
    score: float


@dataclass(frozen=True, slots=True)
class Decision:
    """The open-set answer for one probe vector, with what its score means.

    ``threshold`` is the score the best candidate must reach so that at most ``fpir`` of
    strangers searched against *this* gallery (``gallery_size`` people, their samples, the
    template rule) would be accepted. ``fmr``: how often one comparison with a stranger scores at
    least the best candidate's score; ``fpir_at_score``: how often a stranger's best match in
    this gallery does (both from the calibration; None without candidates)."""

    candidates: list[Candidate]
    threshold: float
    fpir: float
    gallery_size: int
    fmr: float | None
    fpir_at_score: float | None

    @property
    def score(self) -> float | None:
        return self.candidates[0].score if self.candidates else None

    @property
    def accepted(self) -> bool:
        return bool(self.candidates) and self.candidates[0].score >= self.threshold

    @property
    def person(self) -> str | None:
        return self.candidates[0].person if self.accepted else None


@dataclass(frozen=True, slots=True, eq=False)
class Identification:
    """One probe face: the best candidates and the open-set decision."""

    face: Face
    decision: Decision

    @property
    def candidates(self) -> list[Candidate]:
        return self.decision.candidates

    @property
    def threshold(self) -> float:
        return self.decision.threshold

    @property
    def accepted(self) -> bool:
        return self.decision.accepted

    @property
    def person(self) -> str | None:
        return self.decision.person


@dataclass(frozen=True, slots=True)
class EnrollResult:
    person: str
    enrolled: int
    skipped: list[dict[str, str]] = field(default_factory=list)


EnrolResult = EnrollResult
"""The old spelling."""


__all__ = ["Candidate", "Decision", "EnrolResult", "EnrollResult", "Identification"]
