"""An SMTP server on loopback for the tests of e-mail notices, and its fixture."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from conftest import free_port


class Sink:
    """An SMTP server on a free 127.0.0.1 port that keeps every message it is sent, in order."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                sink.messages.append(message_from_bytes(envelope.content))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()


# Named apart from its fixture name, so a test's `mail_sink` parameter does not shadow the import.
@pytest.fixture(name="mail_sink")
def mail_sink_fixture() -> Iterator[Sink]:
    sink = Sink()
    yield sink
    sink.controller.stop()
