"""The sandbox's switchable misbehaviour, and the limits that make a tight budget easy to reach.

Set them through the constructor or `POST /_sandbox/faults` (a JSON object with any of the fields below and of
`integrations.sandboxes.faults.FaultModes`, plus the one-shot command `"expire_access_tokens": true`), read them
back with `GET /_sandbox/faults`. An API call is one under `/api/v1/`; with `after_booking`, fail and hang strike
only POSTs, after they have booked.
"""

from __future__ import annotations

from integrations.sandboxes.faults import FaultModes, Strike, strike

__all__ = ["Faults", "Strike", "strike"]


class Faults(FaultModes, kw_only=True):
    minutely_limit: int = 60
    daily_limit: int = 5000
    token_calls_per_day: int = 200
    access_token_seconds: int = 600
    """Access tokens are issued for this long (`expires_in`); Exact's are 600 s, shorter ones test early expiry."""
    hold_bookings: bool = False
    """While true, a POST to the API waits, neither carried out (booked) nor answered: a slow booking. Setting it
    false again lets the held POSTs book and answer, in the order they came. Held for at most `HOLD_LIMIT` s."""
    misroute_bug: bool = False
    """October 2019: a call to a division the user cannot open is served from the user's current division;
    a POST books there and answers 201. Without it such a call answers 403 `NoDivisionAccess`."""
