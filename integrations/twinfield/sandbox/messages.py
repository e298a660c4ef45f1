"""Requests and replies as plain values, and the SOAP shapes the sandbox answers with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import msgspec
from lxml import etree
from lxml.builder import ElementMaker

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
TWINFIELD_NS = "http://www.twinfield.com/"
_SOAP = ElementMaker(namespace=SOAP_NS, nsmap={"soap": SOAP_NS})
_TWF = ElementMaker(namespace=TWINFIELD_NS, nsmap={None: TWINFIELD_NS})


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes
    base_url: str
    """How the client reached us, e.g. `http://127.0.0.1:8123`: the cluster URLs we hand out lead back here."""

    def form(self) -> dict[str, str]:
        return {name: values[0] for name, values in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering, outside the sandbox's lock: latency and hangs."""
    done: Callable[[], None] | None = None
    """Called when the wait is over, just before the answer is written: the call stops counting as in flight."""


def json_reply(status: int, document: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, msgspec.json.encode(document), {"Content-Type": "application/json", **(headers or {})})


def html_reply(status: int, html: str) -> Reply:
    return Reply(status, html.encode(), {"Content-Type": "text/html; charset=utf-8"})


def text_reply(status: int, text: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8", **(headers or {})})


def soap_reply(answer: etree._Element, status: int = 200) -> Reply:
    document = _SOAP.Envelope(_SOAP.Body(answer))
    return Reply(status, etree.tostring(document, xml_declaration=True, encoding="utf-8"),
                 {"Content-Type": "text/xml; charset=utf-8"})


def fault_reply(message: str, *, code: str = "soap:Client", status: int = 500) -> Reply:
    """A SOAP 1.1 fault, as ASP.NET web services send them: HTTP 500 unless said otherwise."""
    fault = _SOAP.Fault(etree.Element("faultcode"), etree.Element("faultstring"))
    fault[0].text, fault[1].text = code, message
    return soap_reply(fault, status)


def twf(tag: str, *children: Any) -> etree._Element:
    element: etree._Element = getattr(_TWF, tag)(*children)
    return element
