"""The facewise error tree.

Every error the core raises is a :class:`FacewiseError`. Each class knows the exit code the CLI
returns for it and the HTTP status the service answers with, so neither front end needs a table of
its own. ``code`` is a stable machine-readable name used in JSON error bodies.
"""

from __future__ import annotations


class FacewiseError(Exception):
    """Base class: something the caller can act on, with a message that says what."""

    code = "error"
    exit_code = 1
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class InvalidInput(FacewiseError):
    """The input is of a wrong type or value (not an image, wrong array shape, bad argument)."""

    code = "invalid_input"
    exit_code = 2
    http_status = 400


class ImageDecodeError(InvalidInput):
    """The bytes are not an image facewise can decode (corrupt, truncated, unknown format)."""

    code = "image_decode_error"
    exit_code = 3
    http_status = 415


class ImageTooLarge(InvalidInput):
    """The input exceeds the byte or pixel limits in Settings (possible decompression bomb)."""

    code = "image_too_large"
    exit_code = 4
    http_status = 413


class NoFaceFound(FacewiseError):
    """An operation needed a face and the detector found none."""

    code = "no_face"
    exit_code = 5
    http_status = 422


class PresentationAttack(FacewiseError):
    """A face was judged a presentation attack (a photo, a screen, a mask) by the liveness
    check where a live face is required (enrolment with ``--liveness``)."""

    code = "presentation_attack"
    exit_code = 11
    http_status = 422


class UnknownName(FacewiseError):
    """A detector, model or other registry name that facewise does not know."""

    code = "unknown_name"
    exit_code = 2
    http_status = 400


class ModelError(FacewiseError):
    """A bundled model is missing, fails its checksum, or cannot be loaded."""

    code = "model_error"
    exit_code = 6
    http_status = 500


class EmbeddingSpaceMismatch(FacewiseError):
    """Two vectors from different embedding spaces were compared."""

    code = "embedding_space_mismatch"
    exit_code = 7
    http_status = 409


class Conflict(FacewiseError):
    """The change clashes with what is stored (a new person's name is taken)."""

    code = "conflict"
    exit_code = 2
    http_status = 409


class NameTaken(Conflict, InvalidInput):
    """A new person's name (or a rename's target) is taken by a person whose name is the same
    under the name rule (:func:`facewise.gallery.names.name_key`: normalisation, case,
    look-alike letters)."""

    code = "conflict"
    exit_code = 2
    http_status = 409


class NotFound(InvalidInput):
    """What a request names is not (or no longer) there: a person, a cluster, a face."""

    code = "not_found"
    exit_code = 9
    http_status = 404


class PersonNotFound(NotFound):
    """The person a write was meant for is not (or no longer) in the gallery: forgotten,
    removed, renamed or merged since the request began."""


class ConfigError(FacewiseError):
    """A setting in the config file or environment has a bad value."""

    code = "config_error"
    exit_code = 2
    http_status = 500


class GalleryUnavailable(FacewiseError):
    """The gallery's store cannot be reached or opened (a Milvus server that does not answer)."""

    code = "gallery_unavailable"
    exit_code = 10
    http_status = 503


def exit_code_for(code: str) -> int:
    """The CLI exit code of the error class whose ``code`` this is (1 when unknown)."""
    pending: list[type[FacewiseError]] = [FacewiseError]
    while pending:
        cls = pending.pop()
        if cls.code == code:
            return cls.exit_code
        pending.extend(cls.__subclasses__())
    return 1
