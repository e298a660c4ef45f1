"""The public site as static files, byte-for-byte what the server answers, for nginx or a CDN to serve.

Paths and their files in the export directory (README, "A static copy of the public page"):

    /                           index.html           (the page's language, as `/` answers without Accept-Language)
    /nl/, /en/                  nl/index.html, en/index.html
    /incidents/<id>             incidents/<id>.html   (every incident and maintenance the page lists, in the
                                                      page's language, as `/incidents/<id>` answers without Accept-Language)
    /nl/incidents/<id>, /en/... nl/incidents/<id>.html, en/incidents/<id>.html  (each in that language; the pages
                                                      link these, so a visitor stays in the language they chose)
    /history.atom, .rss         history.atom, history.rss
    /api/v2/<name>.json         api/v2/<name>.json    (every document of page/api_v2.py)

Bodies come from the same PublicPages the routes answer from, so a file and the server's answer for
its path are the same bytes. Files are written atomically (a temporary file beside it, then rename):
a visitor never reads half a file. A file is rewritten only when its bytes change, and incident pages
that the page no longer lists are removed. What a static copy cannot do: `?tz=` and `?lang=` (the page
shows the page's zone; its times carry their zone, so nothing reads wrong; each language has its own paths).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from pathlib import Path

from statuspage.core.settings import LANGUAGES
from statuspage.page import api_v2
from statuspage.page.public import PublicPages, Rendered

log = logging.getLogger("statuspage.page.export")

# How often the keeper looks for a change to export (seconds); a change reaches the files within about this.
EXPORT_EVERY_SECONDS = 0.25


# The folders of incident pages: the page language's, and each language's own.
INCIDENT_FOLDERS = ("incidents", *(f"{language}/incidents" for language in LANGUAGES))


def file_for(path: str) -> str:
    """The file (relative to the export directory) that holds the answer for URL `path`."""
    if path.endswith("/"):
        return path.lstrip("/") + "index.html"
    if path.lstrip("/").rpartition("/")[0] in INCIDENT_FOLDERS:
        return path.lstrip("/") + ".html"
    return path.lstrip("/")


async def site(pages: PublicPages) -> dict[str, Rendered]:
    """Every exported URL path with its answer."""
    settings = pages.settings
    zone = settings.zone
    snapshot = await pages.snapshot()
    answers: dict[str, Rendered] = {"/": await pages.page(settings.page.language, zone)}
    for language in LANGUAGES:
        answers[f"/{language}/"] = await pages.page(language, zone)
    for item in snapshot.incidents + snapshot.maintenances:
        for language in LANGUAGES:
            page = await pages.incident_page(item.id, language, zone)
            if page is not None:
                answers[f"/{language}/incidents/{item.id}"] = page
                if language == settings.page.language:
                    answers[f"/incidents/{item.id}"] = page
    for kind in ("atom", "rss"):
        answers[f"/history.{kind}"] = await pages.feed(kind)
    for name in api_v2.DOCUMENTS:
        answers[f"/api/v2/{name}"] = await pages.document(name)
    return answers


def write_atomically(target: Path, body: bytes) -> bool:
    """Write `body` to `target` through a temporary file and a rename; False when it held those bytes already."""
    with contextlib.suppress(FileNotFoundError):
        if target.read_bytes() == body:
            return False
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(body)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return True


def write_site(directory: Path, answers: dict[str, Rendered]) -> int:
    """Write every answer to its file, remove incident pages no longer listed; returns how many files changed."""
    changed = 0
    for path, rendered in answers.items():
        changed += write_atomically(directory / file_for(path), rendered.body)
    wanted = {directory / file_for(path) for path in answers}
    for folder in INCIDENT_FOLDERS:
        incidents = directory / folder
        if incidents.is_dir():
            for stale in incidents.glob("*.html"):
                if stale not in wanted:
                    stale.unlink()
                    changed += 1
    return changed


async def export(pages: PublicPages, directory: Path) -> int:
    """Export the site once into `directory` (created if missing); returns how many files changed."""
    answers = await site(pages)
    return await asyncio.to_thread(write_site, directory, answers)


async def keep_exported(pages: PublicPages, directory: Path, every: float = EXPORT_EVERY_SECONDS) -> None:
    """Export now, then again whenever the page's data or the clock moves what it shows."""
    exported = None  # the snapshot last exported: a new one is built when the data or the clock moved the page
    while True:
        try:
            snapshot = await pages.snapshot()
            if snapshot is not exported:
                await export(pages, directory)
                exported = snapshot
        except Exception:
            log.exception("exporting the public page to %s failed; trying again", directory)
        await asyncio.sleep(every)
