"""Evaluation datasets: verification pairs and labelled image lists.

Three layouts are read:

* a **pairs file**: LFW's official ``pairs.txt`` (a header ``FOLDS N`` or ``N``, then per fold
  N matched lines ``name i j`` and N mismatched lines ``name1 i name2 j``; images at
  ``name/name_NNNN.jpg`` under the root, or under ``root/images`` when that is where they are) or a
  CSV with the columns ``path_a, path_b, same_identity`` and optionally ``fold``;
* a **manifest**: a CSV with ``path`` and ``identity`` and any number of further columns, which can
  serve as groups (``gender``, ``age_band``, ...);
* a **folder per identity**: ``root/<person>/<image>``.

Paths are relative to the root (by default the folder the pairs file or manifest lives in).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facewise.errors import InvalidInput

TRUE = {"1", "true", "yes", "same", "y", "t"}
FALSE = {"0", "false", "no", "different", "n", "f"}
DEFAULT_FOLDS = 10


class DatasetError(InvalidInput):
    """A dataset file is missing, empty, or not in a layout facewise reads."""

    code = "dataset_error"


@dataclass(frozen=True, slots=True)
class PairSet:
    """Verification pairs: image paths relative to ``root``, the truth and the fold of each."""

    root: Path
    path_a: list[str]
    path_b: list[str]
    same: npt.NDArray[np.bool_]
    folds: npt.NDArray[np.int64]
    source: str
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.path_a)

    def images(self) -> list[str]:
        """Every image the pairs use, sorted."""
        return sorted(set(self.path_a) | set(self.path_b))

    def describe(self) -> dict[str, object]:
        return {
            "source": self.source,
            "root": str(self.root),
            "pairs": len(self),
            "genuine": int(self.same.sum()),
            "impostor": int((~self.same).sum()),
            "folds": sorted(int(f) for f in np.unique(self.folds)),
            "images": len(self.images()),
        }

    def subset(self, keep: npt.NDArray[np.bool_]) -> PairSet:
        idx = np.flatnonzero(keep)
        return replace(
            self,
            path_a=[self.path_a[i] for i in idx],
            path_b=[self.path_b[i] for i in idx],
            same=self.same[idx],
            folds=self.folds[idx],
        )

    def select(self, *, folds: list[int] | None = None, limit: int | None = None) -> PairSet:
        """Keep only ``folds``, then at most ``limit`` pairs: the first ones of each (fold, truth)
        stratum in file order, as evenly as the strata allow."""
        out = self
        if folds:
            missing = sorted(set(folds) - set(self.folds.tolist()))
            if missing:
                known = sorted(set(self.folds.tolist()))
                raise DatasetError(f"{self.source}: no fold {missing}; folds are {known}")
            out = out.subset(np.isin(out.folds, folds))
        if limit is not None and limit < len(out):
            if limit < 4:
                raise DatasetError("--limit: keep at least 4 pairs")
            strata = [(int(f), bool(s)) for f, s in zip(out.folds, out.same, strict=True)]
            keys = sorted(set(strata))
            per = limit // len(keys)
            extra = limit - per * len(keys)
            quota = {k: per + (1 if i < extra else 0) for i, k in enumerate(keys)}
            keep = np.zeros(len(out), dtype=bool)
            for i, key in enumerate(strata):
                if quota[key] > 0:
                    keep[i] = True
                    quota[key] -= 1
            out = out.subset(keep)
            note = f"limited to {len(out)} pairs (the first of each fold and class)"
            out = replace(out, notes=[*out.notes, note])
        return out

    def check_kfold(self) -> None:
        if len(np.unique(self.folds)) < 2:
            raise DatasetError(f"{self.source}: the k-fold protocol needs at least 2 folds")
        if self.same.all() or not self.same.any():
            raise DatasetError(f"{self.source}: need both same-identity and different pairs")


@dataclass(frozen=True, slots=True)
class Manifest:
    """Labelled images: ``paths`` relative to ``root``, an identity each, optional group columns."""

    root: Path
    paths: list[str]
    identities: list[str]
    groups: dict[str, list[str]]
    source: str

    def __len__(self) -> int:
        return len(self.paths)

    def group_of(self, column: str) -> dict[str, str]:
        """path -> value of ``column`` (blank values are left out)."""
        if column not in self.groups:
            known = ", ".join(sorted(self.groups)) or "none"
            raise DatasetError(f"{self.source} has no column {column!r}; group columns: {known}")
        return {p: v for p, v in zip(self.paths, self.groups[column], strict=True) if v.strip()}

    def limit_people(self, images: int) -> Manifest:
        """The first people (sorted by name) whose photos add up to about ``images``."""
        order = sorted(range(len(self.paths)), key=lambda i: (self.identities[i], self.paths[i]))
        people: list[str] = []
        count = 0
        seen: dict[str, int] = {}
        for i in order:
            seen[self.identities[i]] = seen.get(self.identities[i], 0) + 1
        for person in sorted(seen):
            if count >= images:
                break
            people.append(person)
            count += seen[person]
        wanted = set(people)
        keep = [i for i in order if self.identities[i] in wanted]
        return Manifest(
            self.root,
            [self.paths[i] for i in keep],
            [self.identities[i] for i in keep],
            {k: [v[i] for i in keep] for k, v in self.groups.items()},
            self.source,
        )


def parse_numbers(text: str | None, what: str) -> list[float] | None:
    """``"0.1,0.5,1"`` -> ``[0.1, 0.5, 1.0]`` (None for an empty text); ``what`` names the option
    in the error."""
    if not text:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise DatasetError(f"{what}: give numbers separated by commas, not {text!r}") from None


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise DatasetError(f"{what} not found: {path}")


def _read_rows(
    path: Path, required: list[str], what: str
) -> tuple[list[dict[str, str]], list[str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read {what} {path}: {exc}") from None
    missing = [c for c in required if c not in columns]
    if missing:
        raise DatasetError(
            f"{what} {path} lacks the column(s) {', '.join(missing)}; it has "
            f"{', '.join(columns) or 'no header'} (expected {', '.join(required)})"
        )
    if not rows:
        raise DatasetError(f"{what} {path} has no rows")
    return rows, columns


def _truth(value: str, line: int, path: Path) -> bool:
    v = value.strip().lower()
    if v in TRUE:
        return True
    if v in FALSE:
        return False
    raise DatasetError(
        f"{path}, row {line}: same_identity must be 1/0 (or true/false), got {value!r}"
    )


def stratified_folds(same: npt.NDArray[np.bool_], k: int = DEFAULT_FOLDS) -> npt.NDArray[np.int64]:
    """Folds 1..k dealt round-robin within each class (used when a pairs file names no folds)."""
    folds = np.empty(len(same), dtype=np.int64)
    for cls in (True, False):
        idx = np.flatnonzero(same == cls)
        folds[idx] = np.arange(len(idx)) % k + 1
    return folds


def load_pairs(path: Path | str, root: Path | str | None = None) -> PairSet:
    """Read a pairs file: ``.txt`` in LFW's official format, anything else as CSV."""
    path = Path(path)
    _require_file(path, "pairs file")
    base = Path(root) if root is not None else path.parent
    if not base.is_dir():
        raise DatasetError(f"image root not found: {base}")
    if path.suffix.lower() == ".txt":
        return _pairs_txt(path, base)
    rows, columns = _read_rows(path, ["path_a", "path_b", "same_identity"], "pairs file")
    same = np.array([_truth(r["same_identity"], i + 2, path) for i, r in enumerate(rows)])
    notes = []
    if "fold" in columns:
        try:
            folds = np.array([int(r["fold"]) for r in rows], dtype=np.int64)
        except ValueError:
            raise DatasetError(f"{path}: the fold column must hold whole numbers") from None
    else:
        folds = stratified_folds(same)
        notes.append(f"no fold column: pairs dealt into {DEFAULT_FOLDS} folds, class by class")
    return PairSet(
        base,
        [r["path_a"] for r in rows],
        [r["path_b"] for r in rows],
        same,
        folds,
        str(path),
        notes,
    )


def _pairs_txt(path: Path, root: Path) -> PairSet:
    try:
        lines = [ln.split() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read pairs file {path}: {exc}") from None
    if not lines:
        raise DatasetError(f"pairs file {path} is empty")
    header: list[int] = []
    if all(tok.isdigit() for tok in lines[0]) and len(lines[0]) <= 2:
        header = [int(t) for t in lines.pop(0)]
    a, b, same = [], [], []
    for n, parts in enumerate(lines, start=2 if header else 1):
        try:
            if len(parts) == 3:
                name, i, j = parts
                a.append((name, int(i)))
                b.append((name, int(j)))
                same.append(True)
            elif len(parts) == 4:
                name1, i, name2, j = parts
                a.append((name1, int(i)))
                b.append((name2, int(j)))
                same.append(False)
            else:
                raise ValueError
        except ValueError:
            raise DatasetError(
                f"{path}, line {n}: expected 'name i j' or 'name1 i name2 j' (LFW pairs.txt), "
                f"got {' '.join(parts)!r}"
            ) from None
    truth = np.array(same)
    notes = []
    if len(header) == 2 and header[0] * header[1] * 2 == len(truth):
        folds = np.repeat(np.arange(1, header[0] + 1), 2 * header[1]).astype(np.int64)
    elif len(header) == 1 and header[0] * 2 == len(truth):
        folds = stratified_folds(truth)
        notes.append(f"one set in the file: pairs dealt into {DEFAULT_FOLDS} folds")
    else:
        folds = stratified_folds(truth)
        notes.append(f"header does not match the pair count: dealt into {DEFAULT_FOLDS} folds")
    prefix = _image_prefix(root, a[0][0] if a else "")

    def rel(item: tuple[str, int]) -> str:
        name, index = item
        return f"{prefix}{name}/{name}_{index:04d}.jpg"

    return PairSet(root, [rel(x) for x in a], [rel(x) for x in b], truth, folds, str(path), notes)


def _image_prefix(root: Path, first_name: str) -> str:
    """LFW's layout is root/<name>/...; some copies keep the people under root/images/."""
    if first_name and not (root / first_name).is_dir() and (root / "images" / first_name).is_dir():
        return "images/"
    return ""


def load_manifest(path: Path | str, root: Path | str | None = None) -> Manifest:
    """Read a CSV manifest with ``path`` and ``identity`` columns; every other column is a group."""
    path = Path(path)
    _require_file(path, "manifest")
    rows, columns = _read_rows(path, ["path", "identity"], "manifest")
    base = Path(root) if root is not None else path.parent
    others = [c for c in columns if c not in ("path", "identity")]
    return Manifest(
        base,
        [r["path"] for r in rows],
        [r["identity"] for r in rows],
        {c: [r.get(c, "") for r in rows] for c in others},
        str(path),
    )


def load_folder(root: Path | str) -> Manifest:
    """A folder per identity: ``root/<person>/<image>`` (images found recursively)."""
    from facewise.gallery.batch import scan

    base = Path(root)
    if not base.is_dir():
        raise DatasetError(f"dataset folder not found: {base}")
    items = scan(base)
    if not items:
        raise DatasetError(f"{base} holds no images in per-person sub-folders")
    return Manifest(
        base,
        [str(p.relative_to(base)) for _, p in items],
        [person for person, _ in items],
        {},
        str(base),
    )


def load_labelled(manifest: Path | str | None, root: Path | str | None) -> Manifest:
    """A manifest when one is given, else the folder-per-identity layout under ``root``."""
    if manifest is not None:
        return load_manifest(manifest, root)
    if root is None:
        raise DatasetError("give a manifest (--manifest) or a folder per identity (--root)")
    return load_folder(root)
