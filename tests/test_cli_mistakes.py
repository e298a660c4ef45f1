"""Mistakes on the command line end in one line on stderr that says what is wrong, and exit status 2: never a
traceback. Each case runs the real `statuspage` command as a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
from conftest import free_port, run_statuspage


def assert_one_line(result: subprocess.CompletedProcess, expected: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr == expected + "\n"
    assert result.returncode == 2


@pytest.mark.parametrize("command", [["migrate"], ["token", "list"], ["probe", "list"], ["worker"], ["export", "out"],
                                     ["serve", "--port", "{port}"]])
def test_a_database_in_a_directory_that_does_not_exist_is_named(tmp_path: Path, command: list[str]) -> None:
    database = tmp_path / "nowhere" / "x.db"
    command = [part.format(port=free_port()) for part in command]
    if command[0] == "export":
        command[1] = str(tmp_path / "out")
    result = run_statuspage(*command, "--db", str(database))
    assert_one_line(result, f"statuspage: error: cannot open the database {database}: "
                            f"its directory {database.parent} does not exist")
    assert not database.parent.exists()


def test_a_file_that_is_no_database_is_named(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database, but a shopping list: " + "bread " * 200)
    result = run_statuspage("migrate", "--db", str(notes))
    assert_one_line(result, f"statuspage: error: cannot open the database {notes}: it is not an SQLite database")
    assert notes.read_text().startswith("not a database")  # left as it was


def test_serve_on_a_host_that_is_no_address_says_so(tmp_path: Path) -> None:
    result = run_statuspage("serve", "--host", "999.1.1.1", "--db", str(tmp_path / "x.db"))
    assert_one_line(result, "statuspage: configuration error: command-line option for server.host: server.host: "
                            "'999.1.1.1' is not an IP address; use one like 127.0.0.1, 0.0.0.0 "
                            "(every IPv4 address of this machine) or ::")
    assert not (tmp_path / "x.db").exists()


def test_export_into_a_file_or_an_impossible_directory_says_so(tmp_path: Path) -> None:
    a_file = tmp_path / "afile"
    a_file.write_text("keep me")
    result = run_statuspage("export", str(a_file), "--db", str(tmp_path / "x.db"))
    assert_one_line(result, f"statuspage: error: cannot export to {a_file}: it is a file, not a directory")
    assert a_file.read_text() == "keep me"

    below_a_file = a_file / "site"
    result = run_statuspage("export", str(below_a_file), "--db", str(tmp_path / "x.db"))
    assert_one_line(result, f"statuspage: error: cannot export to {below_a_file}: cannot make the directory "
                            f"(Not a directory)")

    result = run_statuspage("export", "/proc/nope", "--db", str(tmp_path / "x.db"))
    assert_one_line(result, "statuspage: error: cannot export to /proc/nope: cannot make the directory "
                            "(No such file or directory)")


def test_serve_with_an_export_directory_it_cannot_write_says_so_before_it_serves(tmp_path: Path) -> None:
    a_file = tmp_path / "afile"
    a_file.write_text("keep me")
    result = run_statuspage("serve", "--port", str(free_port()), "--export-dir", str(a_file), "--db", str(tmp_path / "x.db"))
    assert_one_line(result, f"statuspage: error: cannot export to {a_file}: it is a file, not a directory")


def test_a_sandbox_port_out_of_range_says_so(tmp_path: Path) -> None:
    result = run_statuspage("sandbox", "exact-online", "--port", "99999")
    assert_one_line(result, "statuspage: error: --port 99999 is not a TCP port (1-65535, or 0 for a free one)")


def test_a_sandbox_port_that_is_taken_says_so_before_serving(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        result = run_statuspage("serve", "--port", str(free_port()), "--db", str(tmp_path / "x.db"),
                                env=os.environ | {"STATUSPAGE_TWINFIELD_SANDBOX_PORT": str(taken)})
    # (Exact Online's sandbox, started first, says so in the log, and is stopped again.)
    assert result.stderr.splitlines()[-1] == (
        f"statuspage: error: the Twinfield sandbox cannot listen on 127.0.0.1:{taken} (Address already in use); "
        f"change or remove [integrations.twinfield] sandbox_port")
    assert "Traceback" not in result.stderr and "serving" not in result.stderr
    assert result.returncode == 2
