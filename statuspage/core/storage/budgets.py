"""Call budgets per (integration, administration): the limits last stated and the calls made per class per day."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from sqlite_utils import Database

from statuspage.core.storage.engine import Row, iso


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


def budget_rows(db: Database, day: date) -> list[Row]:
    """Every budget known, with `calls` {class: calls made on `day`}."""
    rows = [dict(row) for row in db.query("SELECT * FROM budgets ORDER BY integration, administration")]
    used: dict[tuple[str, str], dict[str, int]] = {}
    for row in db.query("SELECT integration, administration, class, calls FROM budget_calls WHERE day = ?",
                        [day.isoformat()]):
        used.setdefault((row["integration"], row["administration"]), {})[row["class"]] = row["calls"]
    known = {(row["integration"], row["administration"]) for row in rows}
    rows += [{"integration": i, "administration": a, "minutely_limit": None, "minutely_remaining": None,
              "minutely_reset": None, "daily_limit": None, "daily_remaining": None, "daily_reset": None,
              "updated_at": None} for (i, a) in used if (i, a) not in known]
    return [{**row, "calls": used.get((row["integration"], row["administration"]), {})} for row in rows]
