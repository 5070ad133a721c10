"""Consent documents as versioned data: the stored ones load, and bad data is refused at load."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from ketacare.consents.definitions import (
    check_body,
    document_codes,
    documents_required_for,
    get_document,
    list_documents,
    parse_document,
)

GOOD: dict[str, Any] = {
    "code": "example",
    "version": "1",
    "effective_from": "2025-01-01",
    "title": "Example",
    "summary": "An example.",
    "covers": ["iv"],
    "required_for_routes": ["iv"],
    "requires_countersign": False,
    "countersign_roles": [],
    "source": "clinical.md 2.1",
    "citation": "PARIKH-PRIMER",
}
BODY = "<h2>Heading</h2><p>Text with <strong>bold</strong>.</p><ul><li>One</li></ul>"


def parse(body: str = BODY, **changes: Any) -> Any:
    return parse_document(json.dumps({**GOOD, **changes}), body)


def test_the_three_stored_documents_load_with_their_rules() -> None:
    assert document_codes() == ["ketamine_treatment", "research_data_use", "spravato_rems_enrolment"]
    rems = get_document("spravato_rems_enrolment")
    assert rems.requires_countersign
    assert rems.countersign_roles == ("prescriber",)
    assert rems.required_for_routes == ("intranasal_esketamine",)
    treatment = get_document("ketamine_treatment")
    assert set(treatment.required_for_routes) == {"iv", "im", "oral"}
    assert "off-label" in treatment.body
    assert "next day" in treatment.body
    assert "at least 2 hours" in rems.body
    assert "restful sleep" in rems.body
    research = get_document("research_data_use")
    assert research.optional
    assert research.covers == ("research",)
    assert research.required_for_routes == ()
    assert [d.code for d in documents_required_for("intranasal_esketamine")] == ["spravato_rems_enrolment"]
    assert [d.code for d in documents_required_for("iv")] == ["ketamine_treatment"]
    assert list_documents()[-1].code == "research_data_use"  # optional ones last
    assert len(treatment.body_sha256) == 64


def test_a_good_document_parses() -> None:
    assert parse().key == "example-v1"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("<p>Hi<script>alert(1)</script></p>", "tag <script>"),
        ('<p onclick="x()">Hi</p>', "attributes are not allowed"),
        ('<a href="https://example.org">x</a>', "tag <a>"),
        ("<p>Unclosed", "<p> is not closed"),
        ("<p>Hi</p><!-- note -->", "comments"),
        ('<img src="x">', "tag <img>"),
        ("<style>p{}</style>", "tag <style>"),
    ],
)
def test_unsafe_or_broken_bodies_are_refused(body: str, problem: str) -> None:
    assert any(problem in p for p in check_body(body))
    with pytest.raises(ValidationError, match="body"):
        parse(body)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"covers": ["teleport"]}, "covers"),
        ({"required_for_routes": ["im"]}, "does not cover"),
        ({"requires_countersign": True}, "names no countersign_roles"),
        ({"countersign_roles": ["prescriber"]}, "requires_countersign is false"),
        ({"countersign_roles": ["inventory"], "requires_countersign": True}, "countersign_roles"),
        ({"optional": True}, "optional document cannot be required"),
        ({"version": "one"}, "version"),
        ({"code": "Bad Code"}, "code"),
        ({"source": ""}, "source"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_incoherent_metadata_is_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse(**changes)


def test_a_body_inside_the_json_is_refused() -> None:
    with pytest.raises(ValueError, match=r"belongs in the \.html"):
        parse_document(json.dumps({**GOOD, "body": "<p>x</p>"}), BODY)


def test_a_missing_field_is_refused() -> None:
    data = dict(GOOD)
    del data["title"]
    with pytest.raises(ValidationError, match="title"):
        parse_document(json.dumps(data), BODY)
