"""Sends what the outbox holds: webhooks over HTTP, e-mail over SMTP, retried with backoff.

Runs in the background of the service. A subscriber whose server is down costs a few timed-out
requests here and there, never the operator's request that caused the notice, and never the notice
itself: it waits in the outbox until it is delivered or its tries are used up, all visible to
operators.
"""

from __future__ import annotations

import asyncio
import logging
import os
import smtplib
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta
from email.message import EmailMessage

import httpx
import msgspec

from statuspage.core import addresses, lease, storage
from statuspage.core.clock import Clock
from statuspage.core.operation import Refused
from statuspage.core.settings import Settings
from statuspage.core.storage import Store
from statuspage.incidents import notifications

log = logging.getLogger("statuspage.incidents.delivery")

BATCH = 50
CONCURRENCY = 8
TIMEOUT_SECONDS = 10.0
USER_AGENT = "statuspage-webhooks/1"

SendMail = Callable[[Settings, str, notifications.Mail], Awaitable[None]]


class Attempt(msgspec.Struct):
    delivered: bool
    status: int | None = None
    error: str | None = None


async def send_by_smtp(settings: Settings, to: str, mail: notifications.Mail) -> None:
    config = settings.notifications
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = config.mail_from, to, addresses.header_text(mail.subject)
    message.set_content(mail.text)

    host = config.smtp_host
    if host is None:
        raise ValueError("e-mail is not configured: notifications.smtp_host is empty")

    def send() -> None:
        with smtplib.SMTP(host, config.smtp_port, timeout=TIMEOUT_SECONDS) as smtp:
            if config.smtp_starttls:
                smtp.starttls()
            if config.smtp_username:
                smtp.login(config.smtp_username, os.environ.get("STATUSPAGE_SMTP_PASSWORD", ""))
            smtp.send_message(message)

    await asyncio.to_thread(send)


class Deliverer:
    def __init__(
        self, store: Store, settings: Settings, clock: Clock, http: httpx.AsyncClient, send_mail: SendMail = send_by_smtp
    ) -> None:
        self.store, self.settings, self.clock, self.http, self.send_mail = store, settings, clock, http, send_mail
        self._limit = asyncio.Semaphore(CONCURRENCY)
        # One round at a time, so that no delivery is picked up twice.
        self._round = asyncio.Lock()
        self.holder = lease.process_name()

    async def deliver_due(self) -> int:
        """Try every delivery that is due now; returns how many were tried."""
        async with self._round:
            return await self._deliver_due()

    async def _deliver_due(self) -> int:
        # Order per subscriber: a notice superseded by a newer one about the same incident or component is
        # dropped before it can be retried after the newer one arrived (see storage.drop_superseded).
        # Then claimed before they are sent (core/lease.py): no other process sends them meanwhile.
        now = self.clock()

        def claim(db) -> list:
            storage.drop_superseded(db)
            return storage.claim_deliveries(db, now, BATCH, self.holder,
                                            now + timedelta(seconds=lease.DELIVERY_CLAIM_SECONDS))

        due = await self.store.write(claim)
        if not due:
            return 0
        attempts = await asyncio.gather(*(self._try(row) for row in due))
        now = self.clock()
        max_attempts = self.settings.notifications.max_attempts

        def record(db) -> None:
            for row, attempt in zip(due, attempts, strict=True):
                retry_at = None if attempt.delivered else notifications.next_attempt(row["attempts"] + 1, now, max_attempts)
                storage.record_attempt(db, row["id"], now=now, delivered=attempt.delivered, status=attempt.status,
                                       error=attempt.error, next_attempt_at=retry_at)

        await self.store.write(record)
        return len(due)

    async def _try(self, row: dict) -> Attempt:
        """One try of one delivery. Whatever goes wrong is this delivery's failure alone: it is recorded
        (and retried by the schedule) while the rest of the round is sent and recorded as usual."""
        async with self._limit:
            try:
                if row["kind"] == "webhook":
                    return await self._post(row)
                await self.send_mail(self.settings, row["address"], msgspec.json.decode(row["body"], type=notifications.Mail))
                return Attempt(delivered=True)
            except (httpx.HTTPError, OSError, smtplib.SMTPException) as error:
                return Attempt(delivered=False, error=_describe(error))
            except Exception as error:  # a bad address stored before it was checked, a body that will not encode
                log.exception("delivery %s to subscriber %s failed unexpectedly", row["id"], row["subscriber_id"])
                return Attempt(delivered=False, error=_describe(error))

    async def _post(self, row: dict) -> Attempt:
        if not self.settings.notifications.allow_private_targets:
            refused = await self._inside(row["address"])
            if refused:
                return Attempt(delivered=False, error=refused)
        body = row["body"].encode()
        timestamp = int(self.clock().timestamp())
        response = await self.http.post(
            row["address"],
            content=body,
            timeout=TIMEOUT_SECONDS,
            follow_redirects=False,
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Statuspage-Event": row["event"],
                "X-Statuspage-Delivery": str(row["id"]),
                "X-Statuspage-Timestamp": str(timestamp),
                "X-Statuspage-Signature": notifications.signature(row["secret"], timestamp, body),
            },
        )
        if 200 <= response.status_code < 300:
            return Attempt(delivered=True, status=response.status_code)
        return Attempt(delivered=False, status=response.status_code, error=f"HTTP {response.status_code}")


    async def _inside(self, url: str) -> str | None:
        """Why `url` may not be called now: its host resolves to an internal address (checked at each send, as
        a name may have been pointed inside after it was saved). None when it may be called."""
        parsed = httpx.URL(url)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80), type=socket.SOCK_STREAM)
        except OSError:
            return None  # unresolvable: the request itself fails and says so
        try:
            addresses.refuse_internal_addresses(parsed.host, [str(info[4][0]) for info in infos])
        except Refused as refused:
            return str(refused)
        return None


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]


async def deliver_forever(deliverer: Deliverer, interval: float = 1.0,
                          sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """Every `interval` seconds (`notifications.send_every_seconds`), send what is due; a failed round is
    logged and the next one comes all the same.

    The first round too waits its interval: the background work starts again whenever the lease is taken
    anew, and a round at that moment would send notices at a time nobody chose (the tests set an interval
    that never passes, and send when they say so)."""
    while True:
        await sleep(interval)
        try:
            await deliverer.deliver_due()
        except Exception:
            log.exception("delivering notifications failed; trying again")
