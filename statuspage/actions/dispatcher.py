"""Executes queued invoice actions through the integration's connector, exactly once each.

- Per administration, strictly in arrival order (a booking before its release for payment, a
  relation before the booking that needs it); administrations side by side.
- An action is claimed (queued -> running) in a transaction that also checks its kill switches, so
  no call starts once a switch is off; a call already in flight finishes and is recorded.
- Every action that was tried before, including one a crash left mid-call, is first looked up in
  the accounting system by its idempotency key, and only sent if it left no trace there.
- Every call goes through the call budget of its (integration, administration): bookings and their look-ups
  first (the default class), paced by the rate limits the accounting system reports.
- Any registered integration: the action names its integration, whose link holds the connector.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from litestar.di import NamedDependency
from litestar.params import SkipValidation
from sqlite_utils import Database

from integrations.base import (
    ActionResult,
    AuthorizationError,
    ConnectorError,
    InvalidAction,
    Misroute,
    NoAccess,
    OutcomeUnknown,
    RateLimited,
    TransientError,
)
from statuspage.actions import outbox, switches
from statuspage.actions.connections import Links
from statuspage.core import lease, storage
from statuspage.core.clock import Clock
from statuspage.core.settings import Settings
from statuspage.core.storage import Store
from statuspage.core.vocabulary import ActionState
from statuspage.core.waiting import until_woken

log = logging.getLogger("statuspage.actions.dispatcher")

LANES_AT_ONCE = 16
IDLE_WAIT_SECONDS = 0.5
RATE_LIMITED = "waiting for the rate limit"
"""The cause of a try that ended waiting for the accounting system's limits: not a failure (`_failed_tries`)."""
WAITING_FOR_RECONNECT = "waiting for a person to connect it again: the accounting system refused its credentials"
"""The cause of a try that ended on refused credentials: not a failure of the action either (`_failed_tries`)."""
NOT_AS_GIVEN = "the action cannot be carried out as given"
REFUSED = "refused by the accounting system"
REFUSED_FOR_GOOD = frozenset({NOT_AS_GIVEN, REFUSED})
"""Causes of a failure that sending the same request again cannot mend: our own check refused it (`InvalidAction`), or
the accounting system did with a 4xx other than 408/429 (those are `TransientError` / `RateLimited`). A mirror rule
does not plan such a write again until its source row changes (`statuspage.mirrors.writes`)."""
NO_ACCESS = "refused: the connection may not do this"
"""The cause of an action undone because the connection may not write where it asks (the rights check, or a 403 such as
Visma.net's for a token without the create scope). Rights are mended outside this service, so a mirror rule plans such
a write again only when its source row changes or an operator runs the rule by hand."""


@dataclass(frozen=True)
class Outcome:
    """What one try of an action came to, to be written down."""

    state: ActionState
    cause: str
    result: ActionResult | None = None
    error: str | None = None
    retry: bool = False
    wait_until: datetime | None = None
    misroute: Misroute | None = None


class Dispatcher:
    def __init__(self, store: Store, settings: Settings, clock: Clock, links: Links) -> None:
        self.store, self.settings, self.clock, self.links = store, settings, clock, links
        self._busy: dict[tuple[str, str, str], asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self.holder = lease.process_name()  # whose claims these are (core/lease.py)

    def wake(self) -> None:
        """New work may be there (an action arrived, a switch went on): look now, not at the next tick."""
        self._wake.set()

    async def recover(self) -> int:
        """Actions whose claim lapsed (their process died mid-call) go back to the queue, to be looked up
        before any resend; actions another live process is sending stay its own."""
        def work(db: Database) -> int:
            stuck = storage.stuck_running(db, self.clock())
            for row in stuck:
                storage.move_action(db, row.id, expected=ActionState.RUNNING, to=ActionState.QUEUED, now=self.clock(),
                                    cause="the service stopped mid-call; the outcome will be looked up first",
                                    claimed_by=None, claim_until=None)
            return len(stuck)

        return await self.store.write(work)

    async def run_forever(self) -> None:
        await self.recover()
        renewed_at = asyncio.get_running_loop().time()
        while True:
            try:
                if asyncio.get_running_loop().time() - renewed_at >= lease.RENEW_EVERY_SECONDS:
                    renewed_at = asyncio.get_running_loop().time()
                    await self.renew_claims()
                    await self.recover()
                await self.dispatch_once()
            except Exception:
                log.exception("dispatching invoice actions failed; trying again")
            self._wake.clear()
            await until_woken(self._wake, IDLE_WAIT_SECONDS)  # nothing woke us: look again anyway

    async def dispatch_once(self) -> int:
        """Start the due head action of every idle administration; returns how many were started."""
        free = LANES_AT_ONCE - len(self._busy)
        if free <= 0:
            return 0
        now = self.clock()

        def heads(db: Database) -> list[storage.RequestedAction]:
            return storage.lane_heads(db, now, switches.closed_scopes(db), LANES_AT_ONCE * 2)

        started = 0
        for row in await self.store.read(heads):
            lane = (row.integration, row.environment, row.administration)
            if lane in self._busy or started >= free:
                continue
            task = asyncio.create_task(self._run(row), name=f"action-{row.id}")
            self._busy[lane] = task
            task.add_done_callback(functools.partial(self._lane_done, lane))
            started += 1
        return started

    async def renew_claims(self) -> None:
        """Keep the claims on the actions in flight here from lapsing while their calls run."""
        in_flight = [int(task.get_name().removeprefix("action-")) for task in self._busy.values()]
        if in_flight:
            until = self.clock() + timedelta(seconds=lease.ACTION_CLAIM_SECONDS)
            await self.store.write(storage.renew_action_claims, in_flight, self.holder, until)

    def _lane_done(self, lane: tuple[str, str, str], _task: asyncio.Task[None]) -> None:
        """A lane's action finished (whatever its outcome): the lane may take its next action."""
        self._busy.pop(lane, None)
        self.wake()

    async def settle(self) -> None:
        """Wait until nothing is running and nothing due is left (for tests and benchmarks)."""
        while True:
            if self._busy:
                await asyncio.gather(*self._busy.values(), return_exceptions=True)
            if not self._busy and await self.dispatch_once() == 0 and not self._busy:
                return

    async def _run(self, row: storage.RequestedAction) -> None:
        if not await self.store.write(self._claim, row):
            return
        outcome = await self._attempt(row)
        await self.store.write(self._record, row, outcome)

    def _claim(self, db: Database, row: storage.RequestedAction) -> bool:
        # Checked again inside the transaction: a switch that went off a moment ago stops this call.
        if not switches.may_send(switches.closed_scopes(db), row.integration, row.environment):
            return False
        now = self.clock()
        return storage.move_action(db, row.id, expected=ActionState.QUEUED, to=ActionState.RUNNING, now=now,
                                   cause="sending" if row.attempts == 0 else "looking up, then sending if needed",
                                   attempts=row.attempts + 1, claimed_by=self.holder,
                                   claim_until=storage.iso(now + timedelta(seconds=lease.ACTION_CLAIM_SECONDS)))

    async def _attempt(self, row: storage.RequestedAction) -> Outcome:
        action = outbox.invoice_action(row)
        looking_up = row.attempts > 0
        try:
            checked = await self.links[row.integration].checked(row.environment)
            try:
                result = await checked.find_result(action) if looking_up else None
            except NoAccess as refused:
                # Tried before, so it may have been booked: not undone. The look-up waits until the connection
                # user can open the administration again (a reconnect), and never calls it before.
                return Outcome(ActionState.QUEUED,
                               "cannot be looked up: the connection user cannot open the administration",
                               error=str(refused), retry=True)
            found = result is not None
            if result is None:
                result = await checked.execute(action)
            return Outcome(ActionState.DONE, "found in the accounting system, not sent again" if found else "done", result=result)
        except NoAccess as refused:
            return Outcome(ActionState.UNDONE, NO_ACCESS, error=f"{refused}")
        except Misroute as misroute:
            # Where it landed is the action's result: support repairs the books from it (and the misroute report).
            landed = ActionResult(administration=misroute.booked, reference=action.idempotency_key,
                                  entry_number=misroute.entry_number, entry_id=misroute.entry_id)
            return Outcome(ActionState.FAILED, "misrouted", result=landed, misroute=misroute,
                           error=f"booked into administration {misroute.booked} instead of {misroute.asked} "
                                 f"(entry {misroute.entry_number}); it is on the misroute report")
        except RateLimited as limited:
            return Outcome(ActionState.QUEUED, RATE_LIMITED, wait_until=limited.retry_at)
        except AuthorizationError as refusal:
            # The connection itself is refused (invalid_grant: its refresh token was spent or revoked): no later try
            # can do better until a person connects it again. It waits, queued, with every other action of the
            # connection (`IntegrationLink.refused`), due at once after the reconnect. The system's words, no token.
            log.warning("action %s of %s (environment %s, administration %s): the connection cannot sign in (%s); "
                        "it waits until the environment is reconnected in the console", row.id, row.integration,
                        row.environment, row.administration, refusal)
            await self.links[row.integration].refused(row.environment, refusal)
            return Outcome(ActionState.QUEUED, WAITING_FOR_RECONNECT, error=str(refusal), wait_until=self.clock())
        except (TransientError, OutcomeUnknown) as trouble:
            return Outcome(ActionState.QUEUED, "will be tried again", error=str(trouble), retry=True)
        except InvalidAction as invalid:
            return Outcome(ActionState.FAILED, NOT_AS_GIVEN, error=str(invalid))
        except ConnectorError as refused:
            return Outcome(ActionState.FAILED, REFUSED, error=str(refused))
        except Exception as unexpected:  # a fault of ours must not leave the action running for good
            log.exception("action %s: unexpected failure", row.id)
            return Outcome(ActionState.QUEUED, "unexpected failure; will be looked up and tried again",
                           error=f"{type(unexpected).__name__}: {unexpected}", retry=True)

    def _record(self, db: Database, row: storage.RequestedAction, outcome: Outcome) -> None:
        now = self.clock()
        action_id = row.id
        attempts = row.attempts + 1
        # Columns to set with the move (`storage.move_action`), by name.
        fields: dict[str, Any] = {"error": outcome.error, "claimed_by": None, "claim_until": None}
        state, cause = outcome.state, outcome.cause
        if outcome.result is not None:
            fields["result"] = json.dumps({
                "administration": outcome.result.administration, "entry_number": outcome.result.entry_number,
                "entry_id": outcome.result.entry_id, "reference": outcome.result.reference,
                "amount": outcome.result.amount,
            })
        if state == ActionState.QUEUED:
            not_before = outcome.wait_until or outbox.RETRIES.next_attempt(_failed_tries(db, action_id, attempts), now)
            if not_before is None:
                state, cause = ActionState.FAILED, f"gave up after {attempts} tries; an operator must look"
            else:
                fields["not_before"] = storage.iso(not_before)
                if not switches.may_send(switches.closed_scopes(db), row.integration, row.environment):
                    state, cause = ActionState.DELAYED, f"{cause}, after the switch is back on"
        storage.move_action(db, action_id, expected=ActionState.RUNNING, to=state, now=now, cause=cause, **fields)
        if outcome.misroute is not None:
            outbox.record_misroute(db, self.settings, now, row, booked=outcome.misroute.booked,
                                   entry_number=outcome.misroute.entry_number, entry_id=outcome.misroute.entry_id,
                                   names=switches.names_of(self.links[row.integration].integration))
        if state.is_final:
            outbox.notify_final(db, self.settings, now, action_id)
            switches.finish_replays(db, self.settings, now)  # the last of a replay resolves its incident


def _failed_tries(db: Database, action_id: int, attempts: int) -> int:
    """Of an action's `attempts` tries, those that failed: a try that ended waiting for the rate limit (a spent day,
    a `Retry-After` longer than a call may wait) or for a reconnect only waited, so it neither lengthens the retry
    backoff nor brings the action nearer to being given up. (It still counts as a try for the look-up before the
    next send.)"""
    waited = sum(1 for t in storage.transitions_of(db, action_id)
                 if t.cause.startswith((RATE_LIMITED, WAITING_FOR_RECONNECT)))
    return attempts - waited


DispatcherDep = NamedDependency[SkipValidation[Dispatcher]]
"""`dispatcher`: woken when actions may move; injected into handlers (`web.dependencies`)."""
