"""Call budgets per (integration, administration): the limits last stated, the calls made per class per day, and the
credits spent per window where the accounting system does not say (Twinfield)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

import msgspec
from sqlite_utils import Database

from integrations.rate_limits import Window
from statuspage.core.storage.engine import Row, iso, moment


class BudgetState(msgspec.Struct, frozen=True, kw_only=True):
    """One (integration, administration) call budget as every process last heard of it: the windows the accounting
    system last stated (None until it has), and `calls`, {class label: calls made on the day asked}."""

    integration: str
    administration: str
    minutely: Window | None
    daily: Window | None
    calls: dict[str, int]


def record_budget(
    db: Database, integration: str, administration: str, *, minutely: tuple[int, int, datetime] | None,
    daily: tuple[int, int, datetime] | None, calls: Mapping[str, int], day: date, now: datetime,
) -> None:
    """Keep the latest windows ((limit, remaining, reset) each, or None when unknown) and add `calls` per class.

    A window is replaced only by one that resets later, or by the same window with fewer calls remaining:
    answers heard by several processes arrive out of order."""
    db.execute("INSERT OR IGNORE INTO budgets (integration, administration, updated_at) VALUES (?, ?, ?)",
               [integration, administration, iso(now)])
    for name, window in (("minutely", minutely), ("daily", daily)):
        if window is None:
            continue
        limit, remaining, reset = window
        db.execute(
            f"""
            UPDATE budgets SET {name}_limit = ?, {name}_remaining = ?, {name}_reset = ?, updated_at = ?
             WHERE integration = ? AND administration = ?
               AND ({name}_reset IS NULL OR {name}_reset < ? OR ({name}_reset = ? AND {name}_remaining > ?))
            """,
            [limit, remaining, iso(reset), iso(now), integration, administration, iso(reset), iso(reset), remaining],
        )
    for cls, n in calls.items():
        if n:
            db.execute(
                """
                INSERT INTO budget_calls (integration, administration, day, class, calls) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (integration, administration, day, class) DO UPDATE SET calls = calls + excluded.calls
                """,
                [integration, administration, day.isoformat(), cls, n],
            )


def budget_rows(db: Database, day: date) -> list[BudgetState]:
    """Every budget known, with the calls made on `day`; one that only made calls has no windows yet."""
    used: dict[tuple[str, str], dict[str, int]] = {}
    for row in db.query("SELECT integration, administration, class, calls FROM budget_calls WHERE day = ?",
                        [day.isoformat()]):
        used.setdefault((row["integration"], row["administration"]), {})[row["class"]] = row["calls"]
    found = [BudgetState(integration=row["integration"], administration=row["administration"],
                         minutely=_window(row, "minutely"), daily=_window(row, "daily"),
                         calls=used.pop((row["integration"], row["administration"]), {}))
             for row in db.query("SELECT * FROM budgets ORDER BY integration, administration")]
    return found + [BudgetState(integration=i, administration=a, minutely=None, daily=None, calls=calls)
                    for (i, a), calls in used.items()]


def _window(row: Row, name: str) -> Window | None:
    """The `name` (minutely, daily) window of a `budgets` row; None until the accounting system stated it."""
    reset = moment(row[f"{name}_reset"])
    if reset is None or row[f"{name}_limit"] is None:
        return None
    return Window(row[f"{name}_limit"], row[f"{name}_remaining"], reset)


SPENT_KEPT = timedelta(hours=1)
"""Windows of spent credits older than this (before the window being spent in) are dropped."""


def spend_credits(db: Database, integration: str, administration: str, window: datetime, amount: int,
                  limit: int) -> bool:
    """Add `amount` to the window's spent credits if the total stays within `limit`; whether it was added. One
    statement decides, inside the writer's transaction, so two processes never both take the last credits."""
    if db.execute("INSERT OR IGNORE INTO spent_credits (integration, administration, window_start) VALUES (?, ?, ?)",
                  [integration, administration, iso(window)]).rowcount:
        db.execute("DELETE FROM spent_credits WHERE integration = ? AND administration = ? AND window_start < ?",
                   [integration, administration, iso(window - SPENT_KEPT)])
    return db.execute(
        "UPDATE spent_credits SET spent = spent + ? WHERE integration = ? AND administration = ? AND window_start = ? "
        "AND spent + ? <= ?",
        [amount, integration, administration, iso(window), amount, limit]).rowcount == 1


def refund_credits(db: Database, integration: str, administration: str, window: datetime, amount: int) -> None:
    """Take `amount` back from the window's spent credits (never below 0)."""
    db.execute("UPDATE spent_credits SET spent = max(0, spent - ?) "
               "WHERE integration = ? AND administration = ? AND window_start = ?",
               [amount, integration, administration, iso(window)])


def spent_credits(db: Database, integration: str, administration: str, window: datetime) -> int:
    """The window's spent credits, by every process; 0 for a window nobody spent in."""
    row = db.execute("SELECT spent FROM spent_credits WHERE integration = ? AND administration = ? AND window_start = ?",
                     [integration, administration, iso(window)]).fetchone()
    return int(row[0]) if row is not None else 0
