"""The sandbox's switchable misbehaviour and its limits, set through the constructor or `POST /_sandbox/faults`
(a JSON object with any of the fields below and of `integrations.sandboxes.faults.FaultModes`, plus the one-shot
command `"expire_access_tokens": true`). An API call is a web-service call (ProcessXml, Finder); with
`after_booking`, fail and hang strike only writing ProcessXml documents, after they took effect."""

from __future__ import annotations

from integrations.sandboxes.faults import FaultModes, Strike, strike

__all__ = ["Faults", "Strike", "strike"]


class Faults(FaultModes, kw_only=True):
    credits_per_minute: int = 600
    """Each organisation's budget per clock minute. Reads cost `read_credits`, writes `write_credits`."""
    read_credits: int = 1
    write_credits: int = 3
    concurrency_limit: int = 2
    """Calls in flight at once per organisation; one more answers 429 with `Retry-After: 1`."""
    access_token_seconds: int = 3600
    misroute_bug: bool = False
    """Like Exact Online in October 2019: a call for an office the user may not open is served from the user's
    default office, and a booking lands there. Without it Twinfield refuses: access denied."""
