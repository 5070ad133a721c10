"""Normalisation used for search keys: case- and accent-insensitive, digits only for phones."""

from __future__ import annotations

import re
import unicodedata

_NON_DIGIT = re.compile(r"\D+")
_SPACES = re.compile(r"\s+")


def fold(value: str) -> str:
    """Lower-case, strip accents and collapse spaces: 'José  Núñez' -> 'jose nunez'."""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.casefold()).strip()


def digits(value: str) -> str:
    """Keep the digits of a phone number: '(555) 010-2233' -> '5550102233'."""
    return _NON_DIGIT.sub("", value)
