"""The gallery: enrolled people, 1:N open-set identification, consent, audit and forgetting."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the real types for checkers; at run time they load on first use
    from facewise.gallery.gallery import Candidate, EnrolResult, Gallery, Identification

__all__ = ["Candidate", "EnrolResult", "Gallery", "Identification"]


def __getattr__(name: str) -> Any:  # lazy: the store and audit modules import without the index
    if name in __all__:
        from facewise.gallery import gallery

        return getattr(gallery, name)
    raise AttributeError(name)
