"""People in the Milvus gallery: looking them up by name (as given, else its NFKC form),
listing them, the name rule (Milvus has no unique index, so the name keys are kept in memory
and checked under the write lock), renaming and merging."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from facewise.errors import FacewiseError, InvalidInput, NameTaken
from facewise.gallery.milvus.audit import AuditLog
from facewise.gallery.milvus.schema import DUMMY, check_audit, quote, sample_row
from facewise.gallery.names import lookup_forms, name_key, person_name
from facewise.gallery.records import Person


class People(AuditLog):
    """The ``people`` collection, and moving samples between people."""

    # per gallery: (people_version, name key -> [(person id, stored name)]), see _taken
    _name_keys: ClassVar[dict[str, tuple[str, dict[str, list[tuple[int, str]]]]]] = {}

    def _person_row(self, name: str) -> dict[str, Any] | None:
        """The person named ``name`` as given, else in its NFKC form."""
        given, nfkc = lookup_forms(name)
        for form in dict.fromkeys((given, nfkc)):
            rows = self._query("people", f"name == {quote(form)}", ["id", "name", "created_at"])
            if rows:
                return min(rows, key=lambda r: int(r["id"]))
        return None

    def _taken(self, name: str, *, other_than: int = 0) -> str | None:
        """The stored name that ``name`` clashes with under the name rule, if any. Milvus has no
        unique index to ask, so the people's name keys are kept in memory, valid while the
        ``people_version`` in ``meta`` (moved after every change to ``people``, by any
        process) is the one they were read at; otherwise they are read again."""
        version = self._meta("people_version") or "0"
        cached = People._name_keys.get(self._gallery_key)
        if cached is None or cached[0] != version:
            keys: dict[str, list[tuple[int, str]]] = {}
            for row in self._people_rows():
                keys.setdefault(name_key(row["name"]), []).append((int(row["id"]), row["name"]))
            cached = People._name_keys[self._gallery_key] = (version, keys)
        for pid, stored in cached[1].get(name_key(name), []):
            if pid != other_than:
                return stored
        return None

    def _people_changed(self, *, added: tuple[int, str] | None = None) -> None:
        """After a write to ``people``: move ``people_version`` on; the name keys in memory
        follow a person this process ``added`` and are dropped after any other change."""
        old = self._meta("people_version") or "0"
        new = str(int(old) + 1)
        self._set_meta("people_version", new)
        cached = People._name_keys.pop(self._gallery_key, None)
        if added is not None and cached is not None and cached[0] == old:
            cached[1].setdefault(name_key(added[1]), []).append(added)
            People._name_keys[self._gallery_key] = (new, cached[1])

    def _sample_count(self, person_id: int) -> int:
        if self._samples() is None:
            return 0
        return self._count("samples", f"person_id == {int(person_id)}")

    def person(self, name: str) -> Person | None:
        with self._lock:
            row = self._person_row(name)
            if row is None:
                return None
            return Person(
                int(row["id"]), row["name"], row["created_at"], self._sample_count(int(row["id"]))
            )

    def require(self, name: str) -> Person:
        found = self.person(name)
        if found is None:
            raise InvalidInput(f"no person named {name!r} in the gallery")
        return found

    def _people_rows(self) -> list[dict[str, Any]]:
        return self._select(
            "people",
            "id >= 0",
            ["id", "name", "created_at"],
            key="id",
            end=self._counter("next_person"),
        )

    def people(self) -> list[Person]:
        with self._lock:
            rows = self._people_rows()
            counts: dict[int, int] = {}
            if self._samples() is not None and rows:
                owners = self._select(
                    "samples", "id >= 0", ["person_id"], key="id", end=self._counter("next_sample")
                )
                for r in owners:
                    counts[int(r["person_id"])] = counts.get(int(r["person_id"]), 0) + 1
            people = [
                Person(int(r["id"]), r["name"], r["created_at"], counts.get(int(r["id"]), 0))
                for r in rows
            ]
            return sorted(people, key=lambda p: (p.name, p.id))

    def names(self, ids: Iterable[int] | None = None) -> dict[int, str]:
        """Person id -> name, for ``ids`` only when given (the hot path of identification)."""
        with self._lock:
            if ids is None:
                rows = self._people_rows()
            else:
                wanted = sorted({int(i) for i in ids})
                if not wanted:
                    return {}
                rows = self._select(
                    "people",
                    f"id in {wanted}",
                    ["id", "name"],
                    key="id",
                    end=self._counter("next_person"),
                )
            return {int(r["id"]): r["name"] for r in rows}

    def rename(self, old: str, new: str, *, actor: str) -> Person:
        new = person_name(new)
        check_audit(actor, "rename", old, {"new_name": new})
        with self._write():
            person = self.require(old)
            clash = self._taken(new, other_than=person.id)
            if clash is not None:
                raise NameTaken(f"a person named {clash!r} already exists; merge instead")
            self._upsert(
                "people",
                [{"id": person.id, "name": new, "created_at": person.created_at, "pad": DUMMY}],
            )
            self._people_changed()
            self._audit(actor, "rename", old, {"new_name": new})
            return self.require(new)

    def merge(self, source: str, target: str, *, actor: str) -> Person:
        """Move every sample of ``source`` to ``target``, then delete ``source``. A crash midway
        leaves some samples moved and ``source`` still there; merging again finishes it."""
        with self._write():
            src, dst = self.require(source), self.require(target)
            if src.id == dst.id:
                raise InvalidInput("cannot merge a person into themselves")
            details = {"into": target, "samples": src.samples}
            check_audit(actor, "merge", source, details)
            self._bump_generation()
            if self._samples() is not None:
                rows = self._select(
                    "samples",
                    f"person_id == {src.id}",
                    ["*"],
                    key="id",
                    end=self._counter("next_sample"),
                    page=self._vector_page(),
                )
                for row in rows:
                    row["person_id"] = dst.id
                self._upsert("samples", [sample_row(r) for r in rows])
                left = self._count("samples", f"person_id == {src.id}")
                if left:
                    raise FacewiseError(f"merge left {left} samples under {source!r}; run it again")
            self._delete("people", [src.id])
            self._people_changed()
            self._audit(actor, "merge", source, details)
            return self.require(target)


__all__ = ["People"]
