"""The one rule for a person's name, used by both stores, the CLI and the REST schemas.

A name is stored in Unicode NFKC form (compatibility characters such as ligatures, full-width
letters and non-breaking spaces become their plain equivalents, and composed and decomposed
accents become one form). After that it must:

- be 1-200 characters long;
- have no leading or trailing white space;
- contain at least one visible character (a letter, digit, punctuation mark or symbol);
- contain no control, format (zero-width, bidirectional), separator-line, surrogate,
  private-use or unassigned character, no default-ignorable filler (Hangul fillers, braille
  blank, variation selectors, combining grapheme joiner, ...), and no ``/`` (a name is one
  segment of a REST path, ``/v1/people/{name}``); ``.`` and ``..`` are refused too.

Two names are the *same person* when their :func:`name_key` is equal: NFKC, case folded, runs of
white space collapsed, and the Latin look-alike letters of Cyrillic and Greek mapped to Latin (a
short table of the common homoglyphs, not the whole Unicode confusables list). Creating or
renaming to a name whose key is taken is a :class:`~facewise.errors.NameTaken` conflict.
"""

from __future__ import annotations

import re
import unicodedata

from facewise.errors import InvalidInput

MAX_LENGTH = 200
MAX_INPUT = 1000
"""The longest text taken as a name before normalisation (NFKC composes several characters into
one, so a name of 200 may be given in more)."""

RULE = (
    "1-200 characters after Unicode NFKC normalisation, at least one visible character, no "
    "leading or trailing spaces, no control, format or invisible characters, no '/'"
)

_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_VISIBLE = frozenset("LNPS")  # letters, numbers, punctuation, symbols (first category letter)
# Default-ignorable or blank-looking code points whose category does not say so.
_INVISIBLE = frozenset(
    {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x2800, 0x3164, 0xFFA0}
    | set(range(0x180B, 0x1810))
    | set(range(0xFE00, 0xFE10))
    | set(range(0xE0100, 0xE01F0))
)
_FORBIDDEN = frozenset("/")

# Cyrillic and Greek letters that look like Latin ones (lower case after case folding, plus
# capitals whose lower case looks different), mapped to the Latin letter they pass for.
_HOMOGLYPHS = str.maketrans(
    {
        # Cyrillic
        "а": "a",
        "е": "e",
        "ё": "e",
        "о": "o",
        "р": "p",
        "с": "c",
        "у": "y",
        "х": "x",
        "ѕ": "s",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "ԁ": "d",
        "һ": "h",
        "ԛ": "q",
        "ԝ": "w",
        "ӏ": "l",
        "ү": "y",
        # Greek
        "α": "a",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "υ": "u",
        "ϲ": "c",
        "ϳ": "j",
    }
)
_SPACES = re.compile(r"\s+")


def person_name(name: object) -> str:
    """``name`` in its stored form (NFKC), or :class:`InvalidInput` saying which rule it breaks."""
    if not isinstance(name, str):
        raise InvalidInput(f"a person's name must be text, not {type(name).__name__}")
    shown = _shown(name)
    if len(name) > MAX_INPUT:
        raise InvalidInput(f"invalid person name {shown}: 1-{MAX_LENGTH} characters")
    text = unicodedata.normalize("NFKC", name)
    if not 1 <= len(text) <= MAX_LENGTH:
        raise InvalidInput(f"invalid person name {shown}: 1-{MAX_LENGTH} characters")
    for c in text:
        if unicodedata.category(c) in _BAD_CATEGORIES or ord(c) in _INVISIBLE:
            raise InvalidInput(
                f"invalid person name {shown}: it contains U+{ord(c):04X}, a control, format or "
                "invisible character"
            )
        if c in _FORBIDDEN:
            raise InvalidInput(f"invalid person name {shown}: no '/' in a name")
    if text != text.strip():
        raise InvalidInput(f"invalid person name {shown}: no leading or trailing spaces")
    if not any(unicodedata.category(c)[0] in _VISIBLE for c in text):
        raise InvalidInput(f"invalid person name {shown}: it has no visible character")
    if text in (".", ".."):
        raise InvalidInput(f"invalid person name {shown}: '.' and '..' are path segments")
    return text


def name_key(name: str) -> str:
    """What two names must share to be the same person (see the module docstring)."""
    text = unicodedata.normalize("NFKC", name)
    text = text.translate(_UPPER_HOMOGLYPHS)
    text = unicodedata.normalize("NFKC", text.casefold())
    text = unicodedata.normalize("NFKD", text)  # so that accented look-alikes map too
    text = text.translate(_HOMOGLYPHS)
    text = unicodedata.normalize("NFKC", text)
    return _SPACES.sub(" ", text).strip()


def lookup_forms(name: str) -> tuple[str, str]:
    """The name as given and its NFKC form: a stored name is found under either."""
    return name, unicodedata.normalize("NFKC", name)


def _shown(name: str) -> str:
    """The name for an error message: escaped (``ascii``), shortened."""
    text = ascii(name)
    return text if len(text) <= 80 else text[:77] + "..."


# capitals whose lower case does not look like the Latin letter the capital passes for
_UPPER_HOMOGLYPHS = str.maketrans(
    {
        "В": "B",
        "Н": "H",
        "М": "M",
        "Т": "T",
        "К": "K",
        "Р": "P",
        "С": "C",
        "Х": "X",
        "Β": "B",
        "Η": "H",
        "Μ": "M",
        "Τ": "T",
        "Κ": "K",
        "Ρ": "P",
        "Χ": "X",
        "Ν": "N",
        "Ζ": "Z",
        "Ι": "I",
        "Υ": "Y",
        "Ε": "E",
        "Α": "A",
        "Ο": "O",
    }
)

__all__ = ["MAX_INPUT", "MAX_LENGTH", "RULE", "lookup_forms", "name_key", "person_name"]
