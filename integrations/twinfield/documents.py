"""The ProcessXml documents the connector sends, built with lxml, and the answers read back.

Shapes follow Twinfield's ProcessXml reference ("Transactions / Purchase transactions", "Dimensions / Suppliers,
Customers", "Browse data", "Read"):
- `<transaction destiny="final">`, a `header` (`office`, `code` = the transaction type, i.e. the purchase journal,
  `currency`, `date` as yyyymmdd, `invoicenumber`) and `lines`: one `total` line (`dim1` the creditors control
  account, `dim2` the supplier, `credit`) and one `detail` line per invoice line (`dim1` the GL account, `dim2` the
  cost centre, `dim3` the project, `debit`, `vatcode`). Twinfield answers the document with `result="1"` and the
  transaction's `number` in the header, or `result="0"` with `msgtype="error"` and `msg` on what it refused.
- `<dimension>` with `office`, `type` (`CRD` supplier, `DEB` customer), `code`, `name` and an invoice address
  (`country`, `email`, `field4` = VAT number). A dimension sent with an existing code *overwrites* it, so the
  connector reads before it creates.
- `<read><type>dimensions</type>...` reads one dimension; `<columns code="200">` browses supplier transactions
  (one row per transaction: its total line), filtered with `operator` and `from`.

**Modelling choice, not Twinfield's documented XML:** blocking an invoice for payment. Twinfield's public
ProcessXml reference documents no element for it. We send it as `<blocked>true</blocked>` on the total line when
booking (so booking and blocking are one document, one step) and release with a `<paymentblock>` document; the
browse field `fin.trs.line.blocked` reports it. All three names are the constants below; confirm with Twinfield
before using `book_and_block`/`unblock` against the real service, and change only this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree
from lxml.builder import E

from integrations.payloads import Invoice, Relation

BLOCKED = "blocked"
"""Modelled: on a total line, whether the invoice is blocked for payment."""
PAYMENT_BLOCK = "paymentblock"
"""Modelled: the document that blocks or releases a booked invoice for payment."""
BROWSE_BLOCKED = "fin.trs.line.blocked"
"""Modelled: the browse field that reports it."""

SUPPLIER_TRANSACTIONS = "200"
"""Browse code of accounts-payable transactions: one row per transaction, its supplier (total) line."""
INVOICE_NUMBER = "fin.trs.line.invnumber"
KEY_MAX_LENGTH = 40
"""The idempotency key travels as the invoice number, which Twinfield keeps up to 40 characters."""


def _money(amount: float) -> str:
    return f"{abs(amount):.2f}"


def purchase_transaction(
    office: str, invoice: Invoice, key: str, *, payables_account: str, blocked: bool
) -> etree._Element:
    """A final purchase transaction whose invoice number is the action's idempotency key."""
    total = round(sum(line.amount for line in invoice.lines), 2)
    total_line = E.line(
        E.dim1(payables_account), E.dim2(invoice.supplier),
        E.debitcredit("credit" if total >= 0 else "debit"), E.value(_money(total)),
        E.description(invoice.description), type="total",
    )
    if blocked:
        total_line.append(E(BLOCKED, "true"))
    details = []
    for line in invoice.lines:
        detail = E.line(E.dim1(line.gl_account), type="detail")
        if line.cost_center:
            detail.append(E.dim2(line.cost_center))
        if line.project:
            detail.append(E.dim3(line.project))
        detail.extend([E.debitcredit("debit" if line.amount >= 0 else "credit"), E.value(_money(line.amount))])
        if line.vat_code:
            detail.append(E.vatcode(line.vat_code))
        if line.description:
            detail.append(E.description(line.description))
        details.append(detail)
    return E.transaction(
        E.header(
            E.office(office), E.code(invoice.journal), E.currency(invoice.currency),
            E.date(invoice.entry_date.strftime("%Y%m%d")), E.invoicenumber(key),
        ),
        E.lines(total_line, *details),
        destiny="final", raisewarning="false",
    )


def payment_block(office: str, booking: Booking, *, blocked: bool) -> etree._Element:
    """Modelled (see the module's docstring): block or release one booked transaction for payment."""
    return E(PAYMENT_BLOCK, E.office(office), E.code(booking.journal), E.number(booking.number),
             E(BLOCKED, "true" if blocked else "false"))


def booking_lookup(office: str, key: str) -> etree._Element:
    """Browse supplier transactions in `office` whose invoice number is exactly `key`."""
    def column(field: str, value: str | None = None) -> etree._Element:
        element = E.column(E.field(field), E.visible("true"))
        if value is not None:
            element.extend([E.ask("true"), E.operator("equal"), E("from", value)])
        return element

    return E.columns(
        column("fin.trs.head.office", office), column("fin.trs.head.code"), column("fin.trs.head.number"),
        column(INVOICE_NUMBER, key), column("fin.trs.line.valuesigned"), column(BROWSE_BLOCKED),
        code=SUPPLIER_TRANSACTIONS,
    )


def dimension(office: str, dimension_type: str, relation: Relation) -> etree._Element:
    address = E.address(E.name(relation.name), type="invoice", default="true")
    if relation.country:
        address.append(E.country(relation.country))
    if relation.email:
        address.append(E.email(relation.email))
    if relation.vat_number:
        address.append(E.field4(relation.vat_number))
    return E.dimension(E.office(office), E.type(dimension_type), E.code(relation.code), E.name(relation.name),
                       E.addresses(address))


def read_dimension(office: str, dimension_type: str, code: str) -> etree._Element:
    return E.read(E.type("dimensions"), E.office(office), E.dimtype(dimension_type), E.code(code))


@dataclass(frozen=True)
class Refusal:
    """What Twinfield refused in a document: the element (`office`, `code`, ...) and its message."""

    element: str
    message: str


def refusals(answer: etree._Element) -> list[Refusal]:
    """Every `msgtype="error"` in an answered document, in document order. Empty when `result` is not 0."""
    if answer.get("result") != "0":
        return []
    found = [Refusal(str(e.tag), e.get("msg", "")) for e in answer.iter() if e.get("msgtype") == "error"]
    return found or [Refusal(str(answer.tag), answer.get("msg", "") or "refused without a message")]


@dataclass(frozen=True)
class Booking:
    """A purchase transaction as Twinfield reports it: the office it is in, journal and number, invoice number."""

    office: str
    journal: str
    number: str
    invoice_number: str
    amount: float | None
    blocked: bool | None = None


def booked_transaction(answer: etree._Element) -> Booking:
    header = answer.find("header")
    if header is None:
        raise ValueError("the transaction answer has no header")
    total = next((line for line in answer.iterfind("lines/line") if line.get("type") == "total"), None)
    value = total.findtext("value") if total is not None else None
    blocked = total.findtext(BLOCKED) if total is not None else None
    return Booking(
        office=header.findtext("office") or "",
        journal=header.findtext("code") or "",
        number=header.findtext("number") or "",
        invoice_number=header.findtext("invoicenumber") or "",
        amount=float(value) if value else None,
        blocked=None if blocked is None else blocked == "true",
    )


def browsed_bookings(answer: etree._Element) -> list[Booking]:
    bookings = []
    for row in answer.iterfind("tr"):
        cells = {cell.get("field"): cell.text or "" for cell in row.iterfind("td")}
        value = cells.get("fin.trs.line.valuesigned")
        blocked = cells.get(BROWSE_BLOCKED)
        bookings.append(Booking(
            office=cells.get("fin.trs.head.office", ""),
            journal=cells.get("fin.trs.head.code", ""),
            number=cells.get("fin.trs.head.number", ""),
            invoice_number=cells.get(INVOICE_NUMBER, ""),
            amount=abs(float(value)) if value else None,
            blocked=None if blocked is None else blocked == "true",
        ))
    return bookings


@dataclass(frozen=True)
class Dimension:
    office: str
    dimension_type: str
    code: str
    name: str


def read_dimension_answer(answer: etree._Element) -> Dimension:
    return Dimension(office=answer.findtext("office") or "", dimension_type=answer.findtext("type") or "",
                     code=answer.findtext("code") or "", name=answer.findtext("name") or "")
