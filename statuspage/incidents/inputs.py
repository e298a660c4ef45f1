"""What operators send about incidents, maintenance, overrides and webhooks, as msgspec Structs that the JSON
API decodes its bodies into and the console converts its forms into: one set of types and limits
(`core.limits`), so both refuse the same input with the same message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from statuspage.core.limits import MaybeMessage, MaybeName, Message, Name, Reason

ComponentState = Literal["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"]
Moment = Annotated[datetime, msgspec.Meta(tz=True)]
Url = Annotated[str, msgspec.Meta(min_length=8, max_length=2000)]


class IncidentCreate(msgspec.Struct, forbid_unknown_fields=True):
    """`name` and `message` in the page's language, and/or `names` / `messages` per language ({"nl": ...,
    "en": ...}; `operations.in_languages`); visitors read theirs when it is there, else the other, marked
    with its language."""

    name: MaybeName = ""
    message: MaybeMessage = ""
    status: Literal["investigating", "identified", "monitoring", "resolved"] = "investigating"
    impact: Literal["none", "minor", "major", "critical"] = "minor"
    components: dict[str, ComponentState] = {}
    names: dict[str, Name] | None = None
    messages: dict[str, Message] | None = None


class UpdateCreate(msgspec.Struct, forbid_unknown_fields=True):
    """`message` in the page's language, and/or `messages` per language ({"nl": ..., "en": ...})."""

    status: str
    message: MaybeMessage = ""
    components: dict[str, ComponentState] = {}
    messages: dict[str, Message] | None = None


class UpdateEdit(msgspec.Struct, forbid_unknown_fields=True):
    """A correction: the update's texts from now on (`operations.edit_update`), `message` in the page's
    language and/or `messages` per language; a language given in neither is dropped from the update."""

    message: MaybeMessage = ""
    messages: dict[str, Message] | None = None


class MaintenanceCreate(msgspec.Struct, forbid_unknown_fields=True):
    """`name` and `message` in the page's language, and/or `names` / `messages` per language."""

    starts: Moment
    ends: Moment
    name: MaybeName = ""
    message: MaybeMessage = ""
    components: list[str] = []
    names: dict[str, Name] | None = None
    messages: dict[str, Message] | None = None


class OverrideSet(msgspec.Struct, forbid_unknown_fields=True):
    status: ComponentState
    reason: Reason
    expires_at: Moment | None = None


class WebhookCreate(msgspec.Struct, forbid_unknown_fields=True):
    url: Url
    components: list[str] | None = None
