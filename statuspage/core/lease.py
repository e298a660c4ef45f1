"""The rules of leases: who may hold a named lease (the background work) and when a claim has lapsed.

A lease is a row (name, holder, expires_at). Its holder renews it every RENEW_EVERY_SECONDS, moving
`expires_at` LEASE_SECONDS ahead; a holder that stops renewing (killed, hung) loses it when that moment
passes, and the next contender, trying every RENEW_EVERY_SECONDS, takes it. So the background work is
handed over at most LEASE_SECONDS + RENEW_EVERY_SECONDS (18 s) after its holder's last renewal, inside the
30 s that issue 15 ("More than one process") allows. Times come from the injected Clock; the rules are
pure functions so that table tests can pin them down (tests/test_leases.py).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

LEASE_SECONDS = 15.0
RENEW_EVERY_SECONDS = 3.0
BACKGROUND = "background"
# An action being sent stays `running` until this long after its claim, renewed while the call is in flight.
ACTION_CLAIM_SECONDS = 30.0
# A delivery being sent is claimed for longer than one try can take (the HTTP timeout is 10 s).
DELIVERY_CLAIM_SECONDS = 60.0


@dataclass(frozen=True)
class Lease:
    """A lease as stored: who holds `name` and until when (aware datetime, UTC)."""

    name: str
    holder: str
    expires_at: datetime


def may_take(current: Lease | None, holder: str, now: datetime, holder_gone: bool = False) -> bool:
    """Whether `holder` may take or renew the lease: nobody holds it, `holder` does, it lapsed, or its
    holder is known to be gone (`holder_gone`: a process on this host that no longer exists).

    A lease lapses at `expires_at` exactly: a holder renewing at that same instant has lost it
    already, so two processes never both believe they hold it. `holder_gone` spares a restarted
    single-process service the wait for its killed predecessor's lease to lapse.
    """
    if current is None or current.holder == holder and now < current.expires_at:
        return True
    return current.expires_at <= now or holder_gone


def renewed(name: str, holder: str, now: datetime, seconds: float = LEASE_SECONDS) -> Lease:
    """The lease `holder` writes when it takes or renews `name` at `now`."""
    return Lease(name, holder, now + timedelta(seconds=seconds))


def claim_lapsed(deadline: datetime | None, now: datetime, holder_gone: bool = False) -> bool:
    """Whether a claim on a piece of work (an action `running` until `deadline`) may be taken back.

    A claim with no deadline was made before claims had deadlines (or by a process that wrote none):
    it is treated as lapsed, as recovery always treated a `running` action left behind. A claim whose
    holder is known to be gone (`holder_gone`, see `is_gone`) lapsed with it.
    """
    return deadline is None or deadline <= now or holder_gone


def process_name() -> str:
    """This process's name as a holder: host and pid, unique among the processes sharing the file."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_gone(holder: str | None) -> bool:
    """Whether `holder` (host:pid) names a process on this host that no longer exists.

    Holders on other hosts, and names that are not host:pid, are never known to be gone: for them
    only the deadline counts.
    """
    if not holder or ":" not in holder:
        return False
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
