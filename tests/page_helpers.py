"""Reading pages as a person does: the text a visitor reads, the console's CSRF token, signing in with a token."""

from __future__ import annotations

import re
from html import unescape

from litestar.testing import TestClient


def text_of(html: str) -> str:
    """The page as a reader sees it: tags removed, entities decoded, white space folded."""
    without_tags = re.sub(r"<style.*?</style>|<[^>]+>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(without_tags))


def csrf_of(html: str) -> str:
    """The CSRF token a console form carries in its hidden `_csrf_token` field."""
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, token: str):
    """Sign in to the console with an API token through its form; the answer (a redirect, or the form again)."""
    form = client.get("/console/sign-in")
    return client.post("/console/sign-in", data={"token": token, "_csrf_token": csrf_of(form.text)},
                       follow_redirects=False)
