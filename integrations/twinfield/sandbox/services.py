"""The web services on each cluster: `/clusters/<name>/webservices/processxml.asmx` and `finder.asmx`.

Gatekeeping, in order: faults that strike before anything happens; the SOAP envelope and its header's access token;
the cluster (an organisation's calls go to its own); the organisation's concurrency limit and credits (429 with
`Retry-After`); the office (`CompanyCode`, or the document's own `office`), where the misroute bug lives; then the
document or the search. Writes that took effect may be struck afterwards (`after_booking`).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import datetime

from lxml import etree
from lxml.builder import E

from integrations.twinfield.sandbox.faults import Strike, strike
from integrations.twinfield.sandbox.ledger import PURCHASE_JOURNALS, Dimension, Refused
from integrations.twinfield.sandbox.messages import (
    SOAP_NS,
    TWINFIELD_NS,
    Reply,
    Request,
    fault_reply,
    soap_reply,
    text_reply,
    twf,
)
from integrations.twinfield.sandbox.scenario import SandboxUser
from integrations.twinfield.sandbox.state import Exchange, SandboxState

PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)
WRITES = frozenset({"transaction", "dimension", "paymentblock"})
BLOCKED = "blocked"
"""Modelled (see the package README): the total line's payment block, and the browse field reporting it."""

_PATH = re.compile(r"^/clusters/(?P<cluster>[a-z0-9]+)/webservices/(?P<service>processxml|finder)\.asmx$")
_T = f"{{{TWINFIELD_NS}}}"


@dataclass
class Call:
    state: SandboxState
    user: SandboxUser
    asked: str | None
    office: str | None
    """The office that serves the call: the one asked, or under the misroute bug the user's default."""
    now: datetime


def handle(state: SandboxState, request: Request) -> Reply:
    now = state.clock()
    match = _PATH.match(request.path)
    if match is None or request.method != "POST":
        return text_reply(404, "Not found.")
    service = "ProcessXml" if match["service"] == "processxml" else "Finder"
    exchange: dict[str, str | None] = {"cluster": match["cluster"]}
    reply, operation = _serve(state, request, service, match["cluster"], now, exchange)
    reply.delay += state.faults.latency_ms / 1000
    state.record(Exchange(now, service, operation, reply.status, exchange.get("user"), exchange.get("organisation"),
                          match["cluster"], exchange.get("asked"), exchange.get("office")))
    return reply


def _serve(
    state: SandboxState, request: Request, service: str, cluster: str, now: datetime, exchange: dict[str, str | None]
) -> tuple[Reply, str]:
    try:
        root = etree.fromstring(request.body, PARSER)
        body = root.find(f"{{{SOAP_NS}}}Body")
        assert body is not None and len(body) > 0
        operation_element = body[0]
        header_office = root.findtext(f"{{{SOAP_NS}}}Header/{_T}Header/{_T}CompanyCode")
        token = root.findtext(f"{{{SOAP_NS}}}Header/{_T}Header/{_T}AccessToken") or ""
        document: etree._Element | None = None
        if service == "ProcessXml":
            document = etree.fromstring((operation_element.findtext(f"{_T}xmlRequest") or "").encode(), PARSER)
            operation = str(document.tag)
        else:
            operation = operation_element.findtext(f"{_T}type") or ""
    except (etree.XMLSyntaxError, AssertionError):
        return fault_reply("Server was unable to read request."), "?"
    writing = operation in WRITES

    if (hit := strike(state.faults, state.rng, writing=writing, after_effect=False)) is not None:
        return _struck(state, hit), operation

    grant = state.authority.resolve(token)
    if grant is None or not grant.works(now):
        return fault_reply("Access denied. Token invalid.", status=401), operation
    grant.uses += 1
    user = state.users[grant.user]
    organisation = state.organisations[user.organisation]
    exchange.update(user=user.code, organisation=organisation.code)
    if organisation.cluster != cluster:
        return fault_reply(f"Access denied. Organisation {organisation.code} is not on this cluster."), operation

    if not state.limits.enter(organisation.code, state.faults.concurrency_limit):
        return text_reply(429, "Too many concurrent requests.", {"Retry-After": "1"}), operation
    reply = _within_limits(state, user, service, operation, operation_element, document, header_office, writing,
                           now, exchange)
    reply.done = lambda: state.limits.leave(organisation.code)
    return reply, operation


def _within_limits(
    state: SandboxState, user: SandboxUser, service: str, operation: str, operation_element: etree._Element,
    document: etree._Element | None, header_office: str | None, writing: bool, now: datetime,
    exchange: dict[str, str | None],
) -> Reply:
    cost = state.faults.write_credits if writing else state.faults.read_credits
    if (wait := state.limits.spend(user.organisation, cost, state.faults.credits_per_minute, now)) is not None:
        return text_reply(429, "Too many requests: the credits of this minute are spent.",
                          {"Retry-After": str(int(wait))})

    needs_office = not (service == "Finder" and operation == "OFF")
    document_office = document.findtext("office") if document is not None else None
    asked = document_office or header_office
    if needs_office and not header_office:
        return fault_reply("Toegang geweigerd. Company ontbreekt in request header.")
    served = asked
    if asked is not None and not _may_open(state, user, asked):
        if not state.faults.misroute_bug:
            if document_office is None or document_office == header_office:
                return fault_reply(f"Access denied. No access to office {asked}.")
            assert document is not None
            return _process_xml_reply(_refuse(document, "office", f"Geen toegang tot administratie {asked}."))
        served = user.default_office
    exchange.update(asked=asked, office=served)
    call = Call(state, user, asked, served, now)

    if document is not None:
        answer = _process_xml(call, document)
        reply = _process_xml_reply(answer)
        if writing and answer.get("result") == "1" and \
                (hit := strike(state.faults, state.rng, writing=True, after_effect=True)) is not None:
            return _struck(state, hit)
        return reply
    return _finder(call, operation, operation_element)


def _may_open(state: SandboxState, user: SandboxUser, office: str) -> bool:
    known = state.offices.get(office)
    return known is not None and known.organisation == user.organisation and office in user.offices


def _struck(state: SandboxState, hit: Strike) -> Reply:
    if hit is Strike.HANG:
        reply = text_reply(504, "Gateway timeout.")
        reply.delay = state.faults.hang_seconds
        return reply
    if state.faults.fail_status == 500:
        return fault_reply("Server was unable to process request.", code="soap:Server")
    return text_reply(state.faults.fail_status, "The service is temporarily unavailable.")


def _process_xml_reply(answer: etree._Element) -> Reply:
    return soap_reply(twf("ProcessXmlStringResponse",
                          twf("ProcessXmlStringResult", etree.tostring(answer, encoding="unicode"))))


def _refuse(document: etree._Element, element: str, message: str) -> etree._Element:
    target = document.find(f".//{element}") if document.tag != element else document
    if target is None:
        target = document
    target.set("msgtype", "error")
    target.set("msg", message)
    document.set("result", "0")
    return document


def _process_xml(call: Call, document: etree._Element) -> etree._Element:
    handler = {"transaction": _transaction, "paymentblock": _payment_block, "dimension": _dimension,
               "read": _read, "columns": _browse}.get(str(document.tag))
    if handler is None:
        return _refuse(document, str(document.tag), f"Onbekend document <{document.tag}>.")
    try:
        return handler(call, document)
    except Refused as refused:
        return _refuse(document, refused.element, refused.message)


def _text(element: etree._Element | None, path: str, what: str) -> str:
    value = element.findtext(path) if element is not None else None
    if not value or not value.strip():
        raise Refused(path.split("/")[-1], f"Verplicht: {what}.")
    return value.strip()


def _amount(line: etree._Element) -> float:
    try:
        value = round(float(_text(line, "value", "bedrag")), 2)
    except ValueError:
        raise Refused("value", "Ongeldig bedrag.") from None
    return value if line.findtext("debitcredit") == "debit" else -value


def _transaction(call: Call, document: etree._Element) -> etree._Element:
    assert call.office is not None and call.asked is not None
    ledger, office = call.state.ledger, call.office
    header = document.find("header")
    if header is None:
        raise Refused("transaction", "Verplicht: header.")
    journal = _text(header, "code", "dagboek")
    if journal not in PURCHASE_JOURNALS:
        raise Refused("code", f"Dagboek {journal} bestaat niet.")
    try:
        entry_date = datetime.strptime(_text(header, "date", "boekdatum"), "%Y%m%d").date()
    except ValueError:
        raise Refused("date", "Ongeldige boekdatum.") from None
    lines = document.findall("lines/line")
    totals = [line for line in lines if line.get("type") == "total"]
    details = [line for line in lines if line.get("type") == "detail"]
    if len(totals) != 1 or not details:
        raise Refused("lines", "Een boeking heeft één totaalregel en minstens één detailregel.")
    total = totals[0]
    supplier = _text(total, "dim2", "crediteur")
    if ledger.dimension(office, "CRD", supplier) is None:
        raise Refused("dim2", f"Crediteur {supplier} bestaat niet in administratie {office}.")
    for line in details:
        account = _text(line, "dim1", "grootboekrekening")
        if ledger.dimension(office, "PNL", account) is None and ledger.dimension(office, "BAS", account) is None:
            raise Refused("dim1", f"Grootboekrekening {account} bestaat niet.")
        for tag, kind in (("dim2", "KPL"), ("dim3", "PRJ")):
            code = line.findtext(tag)
            if code and ledger.dimension(office, kind, code) is None:
                raise Refused(tag, f"{kind} {code} bestaat niet.")
    amount = -_amount(total)
    if round(sum(_amount(line) for line in details), 2) != amount:
        raise Refused("lines", "De boeking is niet in balans.")
    transaction = ledger.book(
        office=office, asked_office=call.asked, journal=journal, invoice_number=header.findtext("invoicenumber") or "",
        supplier=supplier, entry_date=entry_date, currency=header.findtext("currency") or "EUR",
        amount=amount, lines=[{str(child.tag): child.text or "" for child in line} for line in details],
        blocked=total.findtext(BLOCKED) == "true", user=call.user.code, now=call.now,
    )
    header_office = header.find("office")
    if header_office is None:
        header_office = E.office()
        header.insert(0, header_office)
    header_office.text = office  # where it landed, which under the bug is not where it was asked
    header.append(E.number(transaction.number))
    header.append(E.period(f"{entry_date.year}/{entry_date.month:02d}"))
    document.set("result", "1")
    return document


def _payment_block(call: Call, document: etree._Element) -> etree._Element:
    assert call.office is not None
    journal = _text(document, "code", "dagboek")
    number = _text(document, "number", "boekingsnummer")
    transaction = call.state.ledger.transaction(call.office, journal, number)
    if transaction is None:
        raise Refused("number", f"Boeking {journal} {number} bestaat niet in administratie {call.office}.")
    transaction.blocked = document.findtext(BLOCKED) == "true"
    office = document.find("office")
    if office is not None:
        office.text = call.office
    document.set("result", "1")
    return document


def _dimension(call: Call, document: etree._Element) -> etree._Element:
    assert call.office is not None
    kind = _text(document, "type", "type")
    if kind not in ("CRD", "DEB"):
        raise Refused("type", f"Dimensietype {kind} kan hier niet worden aangemaakt.")
    address = document.find("addresses/address")
    dimension = call.state.ledger.put_dimension(Dimension(
        office=call.office, type=kind, code=_text(document, "code", "code"), name=_text(document, "name", "naam"),
        modified=call.now, created_by=call.user.code,
        country=address.findtext("country") if address is not None else None,
        email=address.findtext("email") if address is not None else None,
        vat_number=address.findtext("field4") if address is not None else None,
    ))
    return _dimension_answer(dimension)


def _dimension_answer(dimension: Dimension) -> etree._Element:
    answer = E.dimension(E.office(dimension.office), E.type(dimension.type), E.code(dimension.code),
                         E.name(dimension.name), result="1", status="hide" if dimension.hidden else "active")
    return answer


def _read(call: Call, document: etree._Element) -> etree._Element:
    assert call.office is not None
    if document.findtext("type") != "dimensions":
        raise Refused("type", "De sandbox leest alleen dimensions.")
    kind = _text(document, "dimtype", "dimensietype")
    code = _text(document, "code", "code")
    dimension = call.state.ledger.dimension(call.office, kind, code)
    if dimension is None:
        answer = E.dimension(E.office(call.office), E.type(kind), E.code(code), result="0")
        return _refuse(answer, "code", f"Dimensie {kind} {code} niet gevonden.")
    return _dimension_answer(dimension)


_BROWSE_FIELDS = ("fin.trs.head.office", "fin.trs.head.code", "fin.trs.head.number", "fin.trs.line.invnumber",
                  "fin.trs.line.dim2", "fin.trs.line.valuesigned", f"fin.trs.line.{BLOCKED}")


def _browse(call: Call, document: etree._Element) -> etree._Element:
    assert call.office is not None
    if document.get("code") != "200":
        raise Refused("columns", f"Browse code {document.get('code')} is niet beschikbaar in de sandbox.")
    columns = []
    for column in document.iterfind("column"):
        field = column.findtext("field") or ""
        if field not in _BROWSE_FIELDS:
            raise Refused("field", f"Onbekend veld {field}.")
        columns.append((field, column.findtext("visible") == "true", column.findtext("operator") or "none",
                        column.findtext("from") or ""))
    answer = E.browse(E.th(*(E.td(field) for field, visible, _, _ in columns if visible)),
                      office=call.office, code="200", result="1")
    rows = 0
    for transaction in call.state.ledger.transactions_in(call.office):
        values = dict(zip(_BROWSE_FIELDS, (
            transaction.office, transaction.journal, transaction.number, transaction.invoice_number,
            transaction.supplier, f"{-transaction.amount:.2f}", "true" if transaction.blocked else "false"),
            strict=True))
        if any(operator == "equal" and values[field] != (call.office if field == "fin.trs.head.office" else wanted)
               for field, _, operator, wanted in columns):
            continue
        rows += 1
        answer.append(E.tr(
            E.key(E.office(transaction.office), E.code(transaction.journal), E.number(transaction.number),
                  E.line("1")),
            *(E.td(values[field], field=field) for field, visible, _, _ in columns if visible),
        ))
    answer.set("first", "1" if rows else "0")
    answer.set("last", str(rows))
    answer.set("total", str(rows))
    return answer


def _finder(call: Call, finder_type: str, search: etree._Element) -> Reply:
    options = {
        pair[0].text or "": pair[1].text or ""
        for pair in (list(item) for item in search.iterfind(f"{_T}options/{_T}ArrayOfString")) if len(pair) == 2
    }
    pattern = search.findtext(f"{_T}pattern") or "*"
    try:
        field = int(search.findtext(f"{_T}field") or "0")
        first = max(1, int(search.findtext(f"{_T}firstRow") or "1"))
        size = max(1, int(search.findtext(f"{_T}maxRows") or "100"))
    except ValueError:
        return _finder_error("field, firstRow and maxRows are numbers.")
    if finder_type == "OFF":
        rows = [[code, call.state.offices[code].name] for code in sorted(call.user.offices)
                if _may_open(call.state, call.user, code)]
    elif finder_type == "DIM":
        kind = options.get("dimtype")
        if not kind:
            return _finder_error("Option dimtype is mandatory.")
        assert call.office is not None
        since = options.get("modifiedsince")
        rows = [[d.code, d.name] for d in call.state.ledger.dimensions_of(call.office, kind)
                if (options.get("hidden") == "1" or not d.hidden)
                and (since is None or d.modified.strftime("%Y%m%d%H%M%S") >= since)]
    else:
        return _finder_error(f"Finder type {finder_type} is not available in the sandbox.")
    rows = [row for row in rows if _matches(row, pattern, field)]
    page = rows[first - 1:first - 1 + size]
    return soap_reply(twf(
        "SearchResponse", twf("SearchResult"),
        twf("data", twf("TotalRows", str(len(rows))), twf("Columns", twf("string", "Code"), twf("string", "Naam")),
            twf("Items", *(twf("ArrayOfString", *(twf("string", value) for value in row)) for row in page))),
    ))


def _matches(row: list[str], pattern: str, field: int) -> bool:
    candidates = {0: row[:2], 1: row[:1], 2: row[1:2]}.get(field, row[:2])
    return any(fnmatch.fnmatchcase(value.lower(), pattern.lower()) for value in candidates)


def _finder_error(message: str) -> Reply:
    return soap_reply(twf("SearchResponse", twf("SearchResult", twf(
        "MessageOfErrorCodes", twf("Type", "Error"), twf("Text", message), twf("Code", "SandboxFinder")))))
