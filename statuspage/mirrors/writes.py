"""Which of a plan's writes go to the outbox, under which idempotency key, as plain Python.

Every write is an outbox action of the rule's client (`mirror:<rule>`), so it is sent exactly once, held as delayed
while the target's kill switch is off and replayed after, paced by the target's call budget. Its idempotency key is
derived from what it writes, so planning the same write again (the next run, before the target was read again) finds
the action already there instead of making a second one:

- an insert: from the rule, the target administration and the key. While its insert waits in the outbox, later runs
  count it as waiting (its payload stays as first planned: insert-only means the row as it was when it was
  inserted); once done, as sent until the target has been read again.
- a change: from the key, the target row as last read (its `version`) and the fields as the source wants them, so
  a change planned again before the target was read again is the same action, and a change from any other state
  of the row (a change back, a hand edit) is a new one.

A write that ended (done, failed, undone or cancelled) and that the target, read again since it ended, does not show
is planned again under the next key (`<key>-2`, ...): seed 001's rule is that every relation exists in the target,
so a customer deleted by hand (noticed by a full read) or a target started afresh is filled in again. Only a read
that began after the write ended can tell: an insert whose fate was unknown may have landed, and an insert done
while the read ran may not be in it.

A write the target refused for good (a 4xx other than 408/429, or our own check: `dispatcher.REFUSED_FOR_GOOD`) is
not planned again while the source row gives the same fields: the same request would be refused again, after every
sync, each time spending a call. It is reported instead (`Handover.refused`), until the source row changes (then the
new content is tried under the next key). An insert that lacks a field the target requires (a relation without a
name) never goes out at all: it is reported the same way. A write undone because the connection may not write there
(a 403: Visma.net's token without the create scope; `dispatcher.NO_ACCESS`) is held the same way, as every other
write of the rule would be refused too, a call each, after every sync; an operator who has mended the rights runs
the rule by hand, and that run plans them again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import msgspec

from integrations.base import ActionKind
from statuspage.core.vocabulary import ActionState
from statuspage.mirrors.reconcile import Plan, Write
from statuspage.mirrors.rules import MirrorRule

SETTLED_WITHOUT_EFFECT = frozenset({ActionState.FAILED, ActionState.UNDONE, ActionState.CANCELLED})
"""Final states of a write that left nothing behind (or nothing known): held until a read tells."""


@dataclass(frozen=True)
class Outgoing:
    """A write to hand to the outbox now."""

    kind: ActionKind
    idempotency_key: str
    write: Write


@dataclass(frozen=True)
class Refusal:
    """A write not planned: the target refused it for good or it lacks a required field; `reason` says which, in
    words for monitoring."""

    kind: ActionKind
    write: Write
    reason: str


@dataclass(frozen=True)
class Handover:
    """A plan split by what the outbox already holds."""

    outgoing: list[Outgoing] = field(default_factory=list)
    waiting: list[Write] = field(default_factory=list)
    """Writes an earlier run handed in that are not done yet (queued, running, or delayed by a kill switch)."""
    sent: list[Write] = field(default_factory=list)
    """Writes done before, which the target (as last read) does not show yet."""
    held: list[Write] = field(default_factory=list)
    """Writes whose earlier try failed, planned again only after the target is read again."""
    refused: list[Refusal] = field(default_factory=list)
    """Writes refused for good with the fields the source gives now: not planned again until those change."""


class EarlierRefusal(NamedTuple):
    """How the target refused a write before: the fields it carried, the target's words, and whether it was refused
    access (the connection may not write there) rather than refused the write itself."""

    fields: Mapping[str, Any]
    reason: str
    access: bool = False


def base_key(rule: MirrorRule, kind: ActionKind, write: Write) -> str:
    """The idempotency key of a write's first try: 1-64 visible characters, as the outbox requires."""
    parts = [rule.key, rule.settings.target.administration, kind.value, write.key]
    if kind is ActionKind.MIRROR_UPDATE:
        parts += [write.version or "", msgspec.json.encode(write.fields, order="sorted").decode()]
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()
    return f"{'mi' if kind is ActionKind.MIRROR_INSERT else 'mu'}-{digest}"


def _tries(base: str) -> Iterator[str]:
    yield base
    n = 2
    while True:
        yield f"{base}-{n}"
        n += 1


def sent_fields(write: Write) -> dict[str, Any]:
    """The fields a write's request carries (a null field is left out: a write only sets values)."""
    return {name: value for name, value in write.fields.items() if value is not None}


def hand_over(rule: MirrorRule, plan: Plan, existing: Mapping[str, tuple[str, datetime]], *,
              read_since: datetime | None, refused: Mapping[str, EarlierRefusal] | None = None
              ) -> Handover:
    """Split `plan` by `existing` (idempotency key -> (state, when it last changed) of the rule's actions in the
    outbox) and `refused` (idempotency key -> how the target refused it, for those refused for good or refused
    access). `read_since`: when the read of the target this plan was made against began; None when the target was
    not read again for it."""
    refused = refused or {}
    handover = Handover()
    for kind, writes in ((ActionKind.MIRROR_INSERT, plan.inserts), (ActionKind.MIRROR_UPDATE, plan.changes)):
        for write in writes:
            lacking = [name for name in rule.target.required if write.fields.get(name) is None] \
                if kind is ActionKind.MIRROR_INSERT else []
            if lacking:
                handover.refused.append(Refusal(kind, write, f"the source row gives no {', '.join(lacking)}, which "
                                                             f"the target requires; not sent until the row changes"))
                continue
            for key in _tries(base_key(rule, kind, write)):
                found = existing.get(key)
                if found is None:
                    handover.outgoing.append(Outgoing(kind, key, write))
                    break
                refusal = refused.get(key)
                if refusal is not None:
                    if dict(refusal.fields) == sent_fields(write):
                        handover.refused.append(Refusal(kind, write, _refusal_words(refusal)))
                        break
                    continue  # the source row changed since it was refused: try what it gives now
                state, changed = found
                ended = state == ActionState.DONE or state in SETTLED_WITHOUT_EFFECT
                if ended and read_since is not None and changed < read_since:
                    continue  # the target, read since, does not show it: write it again
                if state == ActionState.DONE:
                    handover.sent.append(write)
                elif state in SETTLED_WITHOUT_EFFECT:
                    handover.held.append(write)
                else:
                    handover.waiting.append(write)
                break
    return handover


def _refusal_words(refusal: EarlierRefusal) -> str:
    if refusal.access:
        return (f"the target refused access ({refusal.reason}); not sent again until the source row changes or the "
                f"rule is run by hand, once the connection's rights are mended")
    return f"the target refused it for good ({refusal.reason}); not sent again until the source row changes"
