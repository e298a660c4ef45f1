"""`statuspage token ...`: the same naming rule as the API, revoking by name or by --id and never a guess between
them, and a list whose columns stay in line."""

from __future__ import annotations

import pytest

from statuspage.cli import main


@pytest.fixture
def db(tmp_path) -> str:
    return str(tmp_path / "tokens.db")


def token(capsys, db: str, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(["token", *args, "--db", db])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("name", ["has space", "", "x" * 101, "tab\there", "semi;colon", "alice\n"])
def test_a_name_the_api_refuses_is_refused_on_the_command_line_too(capsys, db, client, tokens, name) -> None:
    answer = client.post("/api/v1/tokens", headers=tokens["admin"], json={"name": name, "role": "viewer"})
    assert answer.status_code == 400
    status, out, err = token(capsys, db, "create", "--name", name, "--role", "viewer")
    assert status == 2 and out == ""
    problem = f"a token's name is 1-100 letters, digits and _ . @ - (no spaces), like alice or invoice-product; got {name!r}"
    assert err == f"statuspage: error: {problem}\n"
    if 0 < len(name) <= 100:  # (the API's schema bounds the length before the rule is asked)
        assert answer.json()["detail"] == problem
    assert "has space" not in token(capsys, db, "list")[1]


@pytest.mark.parametrize("name", ["invoice-product", "a.jansen@example.com", "ops_2", "1"])
def test_a_name_the_api_takes_is_taken_on_the_command_line_too(capsys, db, client, tokens, name) -> None:
    assert client.post("/api/v1/tokens", headers=tokens["admin"], json={"name": name, "role": "viewer"}).status_code == 201
    status, out, _ = token(capsys, db, "create", "--name", name, "--role", "viewer")
    assert status == 0 and out.startswith("sp_")


def test_revoke_takes_a_name_or_an_id_and_never_mistakes_one_for_the_other(capsys, db) -> None:
    assert token(capsys, db, "create", "--name", "alice", "--role", "operator")[0] == 0  # id 1
    assert token(capsys, db, "create", "--name", "1", "--role", "viewer")[0] == 0  # id 2, named "1"

    status, _, err = token(capsys, db, "revoke", "--id", "1")
    assert status == 0 and err == "Token 1 revoked; its console sessions are ended.\n"
    status, _, err = token(capsys, db, "revoke", "1")  # the name "1": id 2
    assert status == 0 and err == "Token 2 revoked; its console sessions are ended.\n"

    status, _, err = token(capsys, db, "revoke", "7")
    assert status == 2
    assert err == ("statuspage: error: no token named '7'; 'statuspage token list' shows them "
                   "(to revoke the token with id 7: --id 7)\n")
    status, _, err = token(capsys, db, "revoke", "--id", "7")
    assert status == 2 and err == "statuspage: error: no token with id 7\n"

    _, out, _ = token(capsys, db, "list")
    revoked = {line.split()[1]: line.split()[-1] != "-" for line in out.splitlines()[1:]}
    assert revoked == {"alice": True, "1": True}


def test_revoke_needs_a_name_or_an_id_but_not_both(capsys, db) -> None:
    for args in (["revoke"], ["revoke", "alice", "--id", "1"]):
        with pytest.raises(SystemExit) as exited:
            token(capsys, db, *args)
        assert exited.value.code == 2


def test_the_list_keeps_its_columns_in_line_whatever_the_length_of_a_name(capsys, db) -> None:
    long_name = "the-nightly-export-job-of-the-invoice-product@accounting.example.com"
    for name, role in (("al", "admin"), (long_name, "client"), ("bob", "viewer")):
        assert token(capsys, db, "create", "--name", name, "--role", role)[0] == 0
    _, out, _ = token(capsys, db, "list")
    lines = out.splitlines()
    assert [line.split()[1] for line in lines] == ["name", "al", long_name, "bob"]
    # Each column starts at the same place on every line.
    for column in ("role", "created"):
        starts = {line.index(line.split()[lines[0].split().index(column)]) for line in lines}
        assert len(starts) == 1, out
