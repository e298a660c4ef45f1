"""SOAP 1.1 envelopes for Twinfield's web services, built and read with lxml, and Twinfield's errors as exceptions.

Twinfield's rules (web-services documentation, "Authentication / OpenID Connect" and the ProcessXml and Finder
references):
- Every call carries, in the SOAP header `Header` (namespace `http://www.twinfield.com/`), the OAuth access token
  (`AccessToken`) and the office it works in (`CompanyCode`). Without an office Twinfield refuses most calls
  ("Toegang geweigerd. Company ontbreekt in request header.").
- `ProcessXml` (`/webservices/processxml.asmx`, action `ProcessXmlString`) takes one XML document as a string
  (`xmlRequest`) and answers the document back, annotated with `result` and, per refused element, `msgtype` and
  `msg` (`ProcessXmlStringResult`).
- The Finder (`/webservices/finder.asmx`, action `Search`) takes a type, a pattern, a field, paging and options
  (an `ArrayOfArrayOfString` of name/value pairs), and answers messages (`SearchResult`) and the rows (`data`:
  `TotalRows`, `Columns`, `Items`).
- A call Twinfield refuses as a whole answers a SOAP fault (HTTP 500) with its own message in `faultstring`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree
from lxml.builder import ElementMaker

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
TWINFIELD_NS = "http://www.twinfield.com/"
PROCESS_XML_PATH = "/webservices/processxml.asmx"
FINDER_PATH = "/webservices/finder.asmx"

_SOAP = ElementMaker(namespace=SOAP_NS, nsmap={"soap": SOAP_NS})
_TWF = ElementMaker(namespace=TWINFIELD_NS, nsmap={None: TWINFIELD_NS})

PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)
"""Answers are parsed without entity expansion or network access (no XXE, no billion laughs)."""


class SoapFault(Exception):
    """A SOAP fault: `code` is `faultcode` (e.g. `soap:Client`), `message` Twinfield's `faultstring`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def client_side(self) -> bool:
        """A fault blamed on the request (`Client`): resending it unchanged cannot help."""
        return self.code.split(":")[-1].startswith("Client")


class Malformed(Exception):
    """An answer that is not the SOAP this client expects."""


def envelope(access_token: str, office: str | None, body: etree._Element) -> bytes:
    """A SOAP 1.1 envelope with Twinfield's header (`AccessToken`, `CompanyCode` when an office is given)."""
    header = _TWF.Header(_TWF.AccessToken(access_token))
    if office is not None:
        header.append(_TWF.CompanyCode(office))
    document = _SOAP.Envelope(_SOAP.Header(header), _SOAP.Body(body))
    return bytes(etree.tostring(document, xml_declaration=True, encoding="utf-8"))


def process_xml_body(document: etree._Element) -> etree._Element:
    """`ProcessXmlString` with the document serialised into `xmlRequest` (lxml escapes it)."""
    return _TWF.ProcessXmlString(_TWF.xmlRequest(etree.tostring(document, encoding="unicode")))


def finder_body(
    finder_type: str, pattern: str, field: int, first_row: int, max_rows: int, options: Sequence[tuple[str, str]]
) -> etree._Element:
    """The Finder's `Search` request; `first_row` counts from 1."""
    return _TWF.Search(
        _TWF.type(finder_type),
        _TWF.pattern(pattern),
        _TWF.field(str(field)),
        _TWF.firstRow(str(first_row)),
        _TWF.maxRows(str(max_rows)),
        _TWF.options(*(_TWF.ArrayOfString(_TWF.string(name), _TWF.string(value)) for name, value in options)),
    )


def soap_action(operation: str) -> str:
    return f'"{TWINFIELD_NS}{operation}"'


def read_body(content: bytes) -> etree._Element:
    """The first element inside the answer's SOAP body. Raises `SoapFault` or `Malformed`."""
    try:
        root = etree.fromstring(content, PARSER)
    except etree.XMLSyntaxError as exc:
        raise Malformed(f"not XML: {exc}") from None
    body = root.find(f"{{{SOAP_NS}}}Body")
    if body is None or len(body) == 0:
        raise Malformed("no SOAP body")
    answer = body[0]
    if answer.tag == f"{{{SOAP_NS}}}Fault":
        raise SoapFault(answer.findtext("faultcode") or "", answer.findtext("faultstring") or "")
    return answer


def process_xml_result(answer: etree._Element) -> etree._Element:
    """The document inside a `ProcessXmlStringResponse`."""
    text = answer.findtext(f"{{{TWINFIELD_NS}}}ProcessXmlStringResult")
    if text is None:
        raise Malformed(f"expected ProcessXmlStringResult, got {etree.QName(answer).localname}")
    try:
        return etree.fromstring(text.encode(), PARSER)
    except etree.XMLSyntaxError as exc:
        raise Malformed(f"the ProcessXml answer is not XML: {exc}") from None


@dataclass(frozen=True)
class FinderPage:
    """One page of a Finder answer: `columns` as Twinfield names them (they follow the user's language), `rows`
    as lists of values in that order, `total` rows in all pages."""

    total: int
    columns: list[str]
    rows: list[list[str]]


class FinderError(Exception):
    """The Finder's own error messages (`SearchResult`), joined."""


def finder_result(answer: etree._Element) -> FinderPage:
    ns = f"{{{TWINFIELD_NS}}}"
    errors = [
        message.findtext(f"{ns}Text") or ""
        for message in answer.iterfind(f"{ns}SearchResult/{ns}MessageOfErrorCodes")
        if (message.findtext(f"{ns}Type") or "").lower() == "error"
    ]
    if errors:
        raise FinderError("; ".join(errors))
    data = answer.find(f"{ns}data")
    if data is None:
        return FinderPage(0, [], [])
    columns = [c.text or "" for c in data.iterfind(f"{ns}Columns/{ns}string")]
    rows = [[cell.text or "" for cell in item.iterfind(f"{ns}string")]
            for item in data.iterfind(f"{ns}Items/{ns}ArrayOfString")]
    return FinderPage(int(data.findtext(f"{ns}TotalRows") or len(rows)), columns, rows)
