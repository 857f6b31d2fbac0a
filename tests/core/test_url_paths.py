"""Path segments: refused when they would change the path, matched to a system's id form, else encoded."""

from __future__ import annotations

import re

import httpx
import pytest

from airflow_provider_integrations.core.errors import ConfigError, Outcome, RecordError, classify
from airflow_provider_integrations.core.url_paths import (
    INVALID_PATH_SEGMENT,
    NETSUITE_EXTERNAL_ID,
    SALESFORCE_ID,
    SERVICENOW_TABLE,
    WORKDAY_ID,
    PathSegmentError,
    name_segment,
    segment,
    stripe_id,
)

HOSTILE = {
    ".": "dot segment",
    "..": "dot segment",
    "": "is empty",
    "line\nbreak": "control character",
    "tab\there": "control character",
    "nul\x00": "control character",
    "c1\x85": "control character",
}


@pytest.mark.parametrize("value", sorted(HOSTILE))
def test_values_that_change_any_path_are_refused_for_every_shape(value: str) -> None:
    for shape in (None, SALESFORCE_ID, NETSUITE_EXTERNAL_ID):
        with pytest.raises(PathSegmentError, match=HOSTILE[value]) as caught:
            segment(value, "External_Id__c", shape) if shape else segment(value, "External_Id__c")
        error = caught.value
        assert isinstance(error, RecordError) and classify(error) is Outcome.DEAD_LETTER
        assert error.code == INVALID_PATH_SEGMENT and error.field == "External_Id__c"
        assert str(error.message).startswith("External_Id__c ")


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("a/b", "a%2Fb"),
        ("x?y", "x%3Fy"),
        ("frag#1", "frag%231"),
        ("%2F", "%252F"),
        ("%2E%2E", "%252E%252E"),
        ("...", "..."),
        ("Ünïcode name", "%C3%9Cn%C3%AFcode%20name"),
        (12345, "12345"),
    ],
)
def test_free_text_is_encoded_into_exactly_one_segment(value: object, encoded: str) -> None:
    assert segment(value, "externalid") == encoded
    url = httpx.Client(base_url="https://x.test/api").build_request("GET", f"/items/{encoded}/sub").url
    assert url.raw_path.decode() == f"/api/items/{encoded}/sub", "the client keeps the segment as it is"


@pytest.mark.parametrize("value", [None, True, 1.5, b"bytes", ["a"]])
def test_values_that_are_not_text_are_refused_naming_their_type(value: object) -> None:
    with pytest.raises(PathSegmentError, match=r"^id (is missing|is a [a-z]+, not text)"):
        segment(value, "id")


def test_documented_id_forms_are_matched_whole() -> None:
    assert segment("001xx000003DGb2AAG", "Id", SALESFORCE_ID) == "001xx000003DGb2AAG"
    assert segment("001xx000003DGb2", "Id", SALESFORCE_ID) == "001xx000003DGb2"
    assert segment("cus_NffrFeUfNV2Hib", "id", stripe_id("cus")) == "cus_NffrFeUfNV2Hib"
    assert segment("3aa5550b7fe348b98d7b5741afc65534", "id", WORKDAY_ID) == "3aa5550b7fe348b98d7b5741afc65534"
    for value, shape in [
        ("001xx000003DGb2aag", SALESFORCE_ID),  # the case suffix is upper-case letters and 0-5
        ("001xx000003DGb", SALESFORCE_ID),
        ("ch_123", stripe_id("cus")),
        ("cus_", stripe_id("cus")),
        ("cus_abc/def", stripe_id("cus")),
        ("no-such-worker", WORKDAY_ID),
    ]:
        with pytest.raises(PathSegmentError, match=re.escape(f"is not a {shape.name}")):
            segment(value, "id", shape)


def test_a_character_the_system_misreads_is_refused_by_name() -> None:
    with pytest.raises(PathSegmentError, match=r"contains '\|', which a NetSuite external id cannot hold"):
        segment("a|b", "externalid", NETSUITE_EXTERNAL_ID)
    assert segment("a/b c", "externalid", NETSUITE_EXTERNAL_ID) == "a%2Fb%20c"


def test_the_message_shows_a_long_value_shortened_and_names_the_system() -> None:
    with pytest.raises(PathSegmentError) as caught:
        segment("x" * 100 + "\n", "u_key", system="servicenow", record_key="k1")
    assert "'" + "x" * 40 + "'..." in caught.value.message and "x" * 41 not in caught.value.message
    assert str(caught.value).startswith("servicenow: u_key ") and caught.value.record_key == "k1"


def test_configured_names_fail_the_task_instead() -> None:
    assert name_segment("u_account_import", "import set table", SERVICENOW_TABLE) == "u_account_import"
    for bad in ("..", "u_a/b", "Incident", ""):
        with pytest.raises(ConfigError, match=r"^import set table ") as caught:
            name_segment(bad, "import set table", SERVICENOW_TABLE)
        assert not isinstance(caught.value, RecordError)
