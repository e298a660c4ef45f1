"""Requests and replies (the sandbox kit's, `integrations.sandboxes.messages`), and the SOAP shapes the sandbox
answers with."""

from __future__ import annotations

from typing import Any

from lxml import etree
from lxml.builder import ElementMaker

from integrations.sandboxes.messages import Reply, Request, html_reply, json_reply, text_reply

__all__ = ["Reply", "Request", "fault_reply", "html_reply", "json_reply", "soap_reply", "text_reply", "twf"]

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
TWINFIELD_NS = "http://www.twinfield.com/"
_SOAP = ElementMaker(namespace=SOAP_NS, nsmap={"soap": SOAP_NS})
_TWF = ElementMaker(namespace=TWINFIELD_NS, nsmap={None: TWINFIELD_NS})


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
