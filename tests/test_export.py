"""The static export (page/export.py) holds, file for file, the bytes the server answers for each path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from conftest import TEST_CONFIG, free_port, wait_for
from process_helpers import seeding, service_environ, start, stop

from statuspage.page.export import file_for

OPERATOR = {"Authorization": "Bearer sp_export-operator"}


def path_of(relative: str) -> str:
    """The URL path whose answer the exported file `relative` holds (file_for, backwards)."""
    if relative.endswith("index.html"):
        return "/" + relative.removesuffix("index.html")
    if relative.startswith(("incidents/", "nl/incidents/", "en/incidents/")):
        return "/" + relative.removesuffix(".html")
    return "/" + relative


def test_file_for_and_path_of_agree() -> None:
    for path in ["/", "/nl/", "/en/", "/incidents/abc123", "/nl/incidents/abc123", "/en/incidents/abc123",
                 "/history.atom", "/api/v2/summary.json", "/api/v2/incidents/unresolved.json"]:
        assert path_of(file_for(path)) == path


def exported(directory: Path) -> dict[str, bytes]:
    return {str(file.relative_to(directory)): file.read_bytes() for file in directory.rglob("*") if file.is_file()}


def assert_same_as_server(base: str, directory: Path) -> dict[str, bytes]:
    files = exported(directory)
    assert {"index.html", "nl/index.html", "en/index.html", "history.atom", "history.rss", "api/v2/summary.json",
            "api/v2/status.json", "api/v2/scheduled-maintenances/active.json"} <= set(files)
    for relative, body in files.items():
        answer = httpx.get(base + path_of(relative))
        assert answer.status_code == 200, relative
        assert answer.content == body, f"{relative} differs from GET {path_of(relative)}"
    return files


def same_as_server(base: str, directory: Path) -> bool:
    try:
        assert_same_as_server(base, directory)
    except AssertionError:
        return False
    return True


def test_export_and_the_kept_copy_match_the_server_before_and_after_a_change(tmp_path) -> None:
    port = free_port()
    environ = service_environ(tmp_path, port, TEST_CONFIG + "\n[demo]\nenabled = false\n", "export.db")
    with seeding(environ) as seeded:
        seeded.token("export-operator", "operator", "sp_export-operator")
    kept = tmp_path / "kept"
    base = f"http://127.0.0.1:{port}"
    service = start(environ, "--workers", "2", "--export-dir", str(kept))

    def export_once(directory: Path) -> None:
        subprocess.run([sys.executable, "-m", "statuspage", "export", str(directory)], env=os.environ | environ,
                       check=True, capture_output=True)

    try:
        wait_for(lambda: httpx.get(f"{base}/api/v2/status.json").status_code == 200, "the service")
        wait_for(lambda: (kept / "api/v2/summary.json").exists(), "the kept copy")
        export_once(tmp_path / "once")
        assert assert_same_as_server(base, tmp_path / "once") == assert_same_as_server(base, kept)

        before = (kept / "api/v2/summary.json").read_bytes()
        created = httpx.post(f"{base}/api/v1/incidents", headers=OPERATOR, json={
            "name": "Bookings slow", "message": "Looking.", "status": "investigating", "impact": "minor",
            "components": {"exact-online": "degraded_performance"}})
        assert created.status_code == 201, created.text
        # How soon the copy follows (within a second) is measured by bench/export.py; here, that it does.
        wait_for(lambda: (kept / "api/v2/summary.json").read_bytes() != before, "the change in the copy")
        incident_id = created.json()["id"]
        wait_for(lambda: (kept / f"incidents/{incident_id}.html").exists(), "the incident page")
        wait_for(lambda: same_as_server(base, kept), "every file of the new state in the copy")
        export_once(tmp_path / "after")
        files = assert_same_as_server(base, tmp_path / "after")
        assert f"incidents/{incident_id}.html" in files
        # Each language's incident page, linked from that language's index and its language switch.
        for language, other in (("nl", "en"), ("en", "nl")):
            page = files[f"{language}/incidents/{incident_id}.html"].decode()
            assert f'<html lang="{language}">' in page
            assert f'href="/{other}/incidents/{incident_id}" hreflang="{other}"' in page
            assert f'<a href="/{language}/incidents/{incident_id}">' in files[f"{language}/index.html"].decode()
        assert assert_same_as_server(base, kept) == files
        assert not [name for name in exported(kept) if name.endswith(".tmp")]
    finally:
        stop(service)
