"""Small labelled collections of real LFW faces, embedded once per test module: the input of the
clustering, suggestion and labeller tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Fmr = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]


@dataclass(frozen=True)
class Faces:
    """One face per photo (the largest), who it is, and the space's stranger FMR."""

    vectors: npt.NDArray[np.float32]
    who: list[str]
    fmr: Fmr

    def of(self, name: str) -> list[int]:
        return [i for i, w in enumerate(self.who) if w == name]

    @property
    def people(self) -> list[str]:
        return sorted({w for w in self.who if self.who.count(w) > 1})

    @property
    def strangers(self) -> list[int]:
        return [i for i, w in enumerate(self.who) if self.who.count(w) == 1]


def embed_lfw(
    lfw: Path, engine: Any, groups: Sequence[tuple[Callable[[int], bool], int]], *, photos: int
) -> Faces:
    """For each ``(keep, people)`` group: the first ``people`` LFW folders (sorted) whose photo
    count passes ``keep``, up to ``photos`` photos each."""
    from facewise import calibration

    folders = sorted((lfw / "images").iterdir())
    count = {f: len(list(f.glob("*.jpg"))) for f in folders}
    chosen = [f for keep, people in groups for f in [g for g in folders if keep(count[g])][:people]]
    vectors, who = [], []
    for folder in chosen:
        for path in sorted(folder.glob("*.jpg"))[:photos]:
            found = engine.embed(path, largest=True)
            if found:
                vectors.append(found[0].embedding.vector)
                who.append(folder.name)
    table = calibration.nonmated_model(engine.space).table("mean", 1)

    def fmr(s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return table.fmr(s)

    return Faces(np.asarray(vectors, dtype=np.float32), who, fmr)
