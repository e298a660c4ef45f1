"""The console says plainly what its fields are: labelled override fields, impact in words, and templates filled in
for an integration."""

from __future__ import annotations

import re

import pytest
from conftest import TEST_CONFIG, TOKENS
from page_helpers import sign_in

from statuspage.config import load_settings

SETUP = """
[[components]]
key = "website"
name = "Website availability"

[[incident_templates]]
key = "bookings-paused"
name = "Bookings paused (kill switch off)"
status = "identified"
impact = "major"
component_status = "major_outage"
title = { en = "Bookings to {component} are paused", nl = "Boekingen naar {component} gepauzeerd" }
message = { en = "Switched off.", nl = "Uitgezet." }
"""


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "statuspage.toml"
    # The website first, as in the sample configuration: the first component of the page is no integration.
    path.write_text(TEST_CONFIG.replace("[[components]]", SETUP + "\n[[components]]", 1))
    return load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "wording.db")})


def labels(html: str) -> dict[str, str]:
    """Each form field's id and the visible text of its <label for=...>."""
    return {target: re.sub(r"<[^>]+>", "", text).strip()
            for cls, target, text in re.findall(r'<label( class="[^"]*")? for="([^"]+)">(.*?)</label>', html)
            if "visually-hidden" not in (cls or "")}


def test_every_field_of_an_override_row_has_a_visible_label_in_plain_words(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    page = client.get("/console").text
    row = page.split('<tr data-component="login">')[1].split("</tr>")[0]
    fields = re.findall(r'<(?:input|select)[^>]* id="([^"]+)"', row)
    assert sorted(fields) == ["fold-login", "reason-login", "status-login", "until-login"]
    shown = labels(row)
    assert shown["until-login"] == "Until (Europe/Amsterdam, optional)"
    assert shown["fold-login"] == "If that hour happens twice (clocks go back)"
    assert "ask me if the clocks" not in row and ">ask me</option>" in row


def test_the_new_incident_form_shows_impact_in_words_and_fills_a_template_in_for_an_integration(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    form = client.get("/console/incidents/new?template=bookings-paused").text
    impact = form.split('<select name="impact">')[1].split("</select>")[0]
    assert re.findall(r">([^<]+)</option>", impact) == ["No impact", "Minor impact", "Major impact", "Critical impact"]
    assert 'value="Bookings to Exact Online are paused"' in form  # not "... to Website availability ..."
    chosen = form.split('id="template-component"')[1].split("</select>")[0]
    assert '<option value="exact-online" selected>' in chosen
