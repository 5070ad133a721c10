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


def phone_key(value: str) -> str:
    """Digits of a phone number without the North American country code, so '+1 312 555 0142',
    '1-312-555-0142' and '(312) 555-0142' all give '3125550142' and match each other."""
    number = digits(value)
    if len(number) == 11 and number.startswith("1"):
        return number[1:]
    return number
