"""Consent documents as versioned data: `documents/<code>-v<version>.json` plus `<code>-v<version>.html`.

The JSON holds what the software needs (code, version, effective date, title, what the document covers,
which routes require it, whether a prescriber must countersign, its source); the HTML file holds the
text the patient reads and signs. As with screening rules (`screening/definitions.py`), a file that is
not coherent fails at load and in the tests, never in front of a patient.

The body is our own data, but it is still checked before it is ever marked safe: only a small set of
formatting tags without attributes is allowed (`ALLOWED_TAGS`), so no script, style, link, image or
event handler can reach a page or a PDF. `Document.body_sha256` is the hash of the exact text signed,
stored with every signature.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
from html.parser import HTMLParser
from importlib import resources
from typing import Literal

from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ketacare.screening.facts import ROUTES, Route

Covered = Route | Literal["research"]
COVERED: tuple[str, ...] = (*ROUTES, "research")
StaffRole = Literal["admin", "prescriber", "nurse"]

ALLOWED_TAGS = frozenset({"h2", "h3", "p", "ul", "ol", "li", "strong", "em", "br"})
_VOID = frozenset({"br"})


class _BodyChecker(HTMLParser):
    """Refuses any tag outside ALLOWED_TAGS, any attribute, comments and unbalanced tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}> is not allowed")
        if attrs:
            self.problems.append(f"attributes are not allowed (<{tag} {attrs[0][0]}=…>)")
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _VOID:
            self.problems.append(f"<{tag}/> is not allowed")
        if attrs:
            self.problems.append(f"attributes are not allowed (<{tag} {attrs[0][0]}=…>)")

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"unbalanced </{tag}>")
            return
        self.stack.pop()

    def handle_comment(self, data: str) -> None:
        self.problems.append("comments are not allowed")

    def handle_decl(self, decl: str) -> None:
        self.problems.append("declarations are not allowed")

    def handle_pi(self, data: str) -> None:
        self.problems.append("processing instructions are not allowed")

    def unknown_decl(self, data: str) -> None:
        self.problems.append("declarations are not allowed")


def check_body(body: str) -> list[str]:
    """The problems of a document body (empty = safe to show as HTML)."""
    checker = _BodyChecker()
    checker.feed(body)
    checker.close()
    if checker.stack:
        checker.problems.append(f"<{checker.stack[-1]}> is not closed")
    return checker.problems


class Document(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[a-z0-9_]+$", max_length=60)
    version: str = Field(pattern=r"^[0-9]+$", max_length=10)
    effective_from: datetime.date
    title: str = Field(min_length=1, max_length=200)
    summary: str = Field(min_length=1)
    covers: tuple[Covered, ...] = Field(min_length=1)
    required_for_routes: tuple[Route, ...] = ()
    optional: bool = False
    requires_countersign: bool = False
    countersign_roles: tuple[StaffRole, ...] = ()
    source: str = Field(min_length=1)
    citation: str = Field(min_length=1)
    body: str = Field(min_length=1)

    @model_validator(mode="after")
    def _coherent(self) -> Document:
        if len(set(self.covers)) != len(self.covers):
            raise ValueError(f"{self.code}: a covered route is listed twice")
        stray = {str(r) for r in self.required_for_routes} - {str(c) for c in self.covers}
        if stray:
            raise ValueError(f"{self.code}: required for {', '.join(sorted(stray))} but does not cover it")
        if self.optional and self.required_for_routes:
            raise ValueError(f"{self.code}: an optional document cannot be required for a route")
        if self.requires_countersign and not self.countersign_roles:
            raise ValueError(f"{self.code}: requires a countersignature but names no countersign_roles")
        if not self.requires_countersign and self.countersign_roles:
            raise ValueError(f"{self.code}: countersign_roles given but requires_countersign is false")
        problems = check_body(self.body)
        if problems:
            raise ValueError(f"{self.code} body: {'; '.join(problems)}")
        return self

    @property
    def key(self) -> str:
        return f"{self.code}-v{self.version}"

    @property
    def body_sha256(self) -> str:
        return hashlib.sha256(self.body.encode("utf-8")).hexdigest()

    @property
    def safe_body(self) -> SafeString:
        # check_body() refused every tag and attribute outside ALLOWED_TAGS when the document loaded.
        return mark_safe(self.body)


class UnknownDocument(LookupError):
    pass


def parse_document(meta_json: str, body_html: str) -> Document:
    """One document from its JSON metadata and HTML body (raises pydantic.ValidationError)."""
    import json

    data = json.loads(meta_json)
    if not isinstance(data, dict):
        raise ValueError("document metadata must be a JSON object")
    if "body" in data:
        raise ValueError("the body belongs in the .html file, not the JSON")
    return Document.model_validate({**data, "body": body_html.strip()})


@functools.cache
def _catalogue() -> dict[tuple[str, str], Document]:
    found: dict[tuple[str, str], Document] = {}
    folder = resources.files("ketacare.consents").joinpath("documents")
    for entry in folder.iterdir():
        if not entry.name.endswith(".json"):
            continue
        stem = entry.name.removesuffix(".json")
        body = folder.joinpath(f"{stem}.html")
        if not body.is_file():
            raise ValueError(f"{entry.name} has no {stem}.html body")
        document = parse_document(entry.read_text(encoding="utf-8"), body.read_text(encoding="utf-8"))
        if stem != document.key:
            raise ValueError(f"{entry.name} holds {document.code} version {document.version}")
        found[(document.code, document.version)] = document
    return found


def document_versions(code: str) -> list[Document]:
    """Every stored version of one document, oldest first."""
    versions = [d for (c, _), d in _catalogue().items() if c == code]
    if not versions:
        raise UnknownDocument(code)
    return sorted(versions, key=lambda d: (d.effective_from, int(d.version)))


def get_document(code: str, version: str | None = None, on: datetime.date | None = None) -> Document:
    """One document: the given version, or the newest in effect on `on` (default: today)."""
    if version is not None:
        try:
            return _catalogue()[(code, version)]
        except KeyError:
            raise UnknownDocument(f"{code} version {version}") from None
    day = on or timezone.localdate()
    in_effect = [d for d in document_versions(code) if d.effective_from <= day]
    if not in_effect:
        raise UnknownDocument(f"{code} has no version in effect on {day.isoformat()}")
    return in_effect[-1]


def list_documents(on: datetime.date | None = None) -> list[Document]:
    """The version of each document in effect on `on` (default: today): required ones first, then by title."""
    day = on or timezone.localdate()
    result = []
    for code in sorted({c for c, _ in _catalogue()}):
        try:
            result.append(get_document(code, on=day))
        except UnknownDocument:
            continue
    return sorted(result, key=lambda d: (d.optional, d.title))


def documents_required_for(route: Route, on: datetime.date | None = None) -> list[Document]:
    return [d for d in list_documents(on) if route in d.required_for_routes]


def document_codes() -> list[str]:
    return sorted({c for c, _ in _catalogue()})
