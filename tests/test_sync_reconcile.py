"""The full sync's reconciliation (a keyed full outer join of staging against the mirror), as a table and as a
property over any staging set and any mirror; and the normal form rows are hashed in."""

from __future__ import annotations

from datetime import datetime

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.exact_online.sync import ACCOUNTS, AMSTERDAM, Account, sync_entity
from statuspage.sync.reconcile import classify, reconcile, record_of


@pytest.mark.parametrize(
    ("staging", "mirror", "inserts", "changes", "deletes", "unchanged"),
    [
        ({"a": "1"}, {}, ["a"], [], [], []),  # new key
        ({"a": "1"}, {"a": None}, ["a"], [], [], []),  # a tombstoned key came back
        ({"a": "1"}, {"a": "1"}, [], [], [], ["a"]),  # read again unchanged
        ({"a": "2"}, {"a": "1"}, [], ["a"], [], []),  # content changed
        ({}, {"a": "1"}, [], [], ["a"], []),  # gone from the accounting system: a hard delete
        ({}, {"a": None}, [], [], [], []),  # already a tombstone: nothing to do
        ({"a": "1", "b": "2", "c": "3"}, {"b": "2", "c": "x", "d": "4", "e": None}, ["a"], ["c"], ["d"], ["b"]),
    ],
)
def test_a_full_read_against_the_mirror_by_key_and_hash(staging, mirror, inserts, changes, deletes, unchanged):
    outcome = reconcile(staging, mirror)
    assert (outcome.inserts, outcome.changes, outcome.deletes, outcome.unchanged) == (
        inserts, changes, deletes, unchanged)


def test_an_incremental_page_never_deletes_what_it_does_not_hold():
    outcome = classify({"a": "1", "b": "9"}, {"a": "1", "b": "2", "c": "3"})
    assert (outcome.inserts, outcome.changes, outcome.deletes, outcome.unchanged) == ([], ["b"], [], ["a"])


keys = st.text(alphabet="abcdef", min_size=1, max_size=3)
hashes = st.sampled_from(["h1", "h2", "h3"])


@given(staging=st.dictionaries(keys, hashes), mirror=st.dictionaries(keys, st.none() | hashes))
def test_applying_the_outcome_makes_the_mirror_equal_to_staging(staging, mirror):
    outcome = reconcile(staging, mirror)
    after = dict(mirror)
    for key in outcome.inserts + outcome.changes:
        after[key] = staging[key]
    for key in outcome.deletes:
        after[key] = None
    assert {key: digest for key, digest in after.items() if digest is not None} == staging
    # every key lands in exactly one class, and nothing is physically deleted
    classes = outcome.inserts + outcome.changes + outcome.unchanged
    assert sorted(classes) == sorted(staging) and set(outcome.deletes).isdisjoint(staging)
    assert set(after) == set(mirror) | set(staging)
    assert reconcile(staging, after).inserts == reconcile(staging, after).changes == []
    assert reconcile(staging, after).deletes == []


def account(name: str, timestamp: int, code: str = "100007") -> dict:
    """An Exact account as its reader hands it to the sync: the Struct's fields by their Python names."""
    return msgspec.structs.asdict(Account(id="guid-7", code=code, name=name, timestamp=timestamp,
                                          modified=datetime(2026, 11, 23, 10, 30, tzinfo=AMSTERDAM)))


def test_the_row_version_is_not_content_but_every_field_is():
    accounts = sync_entity(ACCOUNTS)
    assert record_of(accounts, account("Bakkerij", 10)).hash == record_of(accounts, account("Bakkerij", 99)).hash
    assert record_of(accounts, account("Bakkerij", 10)).hash != record_of(accounts, account("Bakker", 10)).hash
    assert record_of(accounts, account("Bakkerij", 10)).key == "guid-7"
    content = record_of(accounts, account("Bakkerij", 10)).content
    assert '"is_customer":null' in content and '"timestamp"' not in content
    assert '"modified":"2026-11-23T10:30:00+01:00"' in content
