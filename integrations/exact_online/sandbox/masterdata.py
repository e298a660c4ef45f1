"""Master data per division: generated on demand, changed and deleted through the controls, read by the API.

Every row carries `Timestamp`, Exact Online's row version: a 64-bit integer from one counter per division,
increased on every change, so `sync/...` endpoints can hand out "everything after N" in order. Exact's
documentation (Sync API) describes it; the first call asks `Timestamp gt 1`.

Generated rows are never stored: row `i` of an entity is computed from (seed, division, entity, i), with row
version `base + i + 1`, and its GUID ends in `i`, so a key leads back to its row. Only rows that changed since
(the overlay, in row-version order) and the set of generated rows they replaced or deleted are kept. 100,000
accounts therefore cost nothing to generate and a few hundred bytes to change.

`Modified` is Exact's: local time in Europe/Amsterdam without a zone (a naive `datetime` here). Generated rows
share it in groups of five, as rows written in one batch do in Exact, so a `Modified` bound meets ties.

Account `Code`s are padded with leading spaces to 18 characters, as Exact returns them.
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec

from integrations.exact_online.sandbox.query import AMSTERDAM, Predicate, Row

ACCOUNT_CODE_WIDTH = 18
FIRST_ACCOUNT_CODE = 100_000
MAX_ROWS = 100_000
"""Per entity and division."""
LINES_PER_ORDER = 3
GROUP_SIZE = 5
"""Generated rows share one `Modified` per group of this many."""

# Purchase order status (Exact: OrderStatus) and payment status (cashflow/Payments: Status).
ORDER_OPEN, ORDER_PARTIAL, ORDER_COMPLETE, ORDER_CANCELLED = 10, 20, 30, 40
PAYMENT_OPEN, PAYMENT_SELECTED, PAYMENT_PROCESSED, PAYMENT_MATCHED = 20, 30, 40, 50

_MASK = (1 << 64) - 1
_NAMES = ("Bakkerij", "Hoveniers", "Installatie", "Transport", "Drukkerij", "Adviesbureau", "Schilders",
          "Metaal", "Zuivel", "Techniek", "Logistiek", "Bouw", "Vastgoed", "Groothandel", "Kantoor")
_PLACES = ("Amsterdam", "Utrecht", "Zwolle", "Groningen", "Eindhoven", "Leiden", "Breda", "Arnhem", "Gouda",
           "Delft", "Haarlem", "Tilburg")
_GL = (("Omzet", 110, "C", "W"), ("Inkoop", 111, "D", "W"), ("Kosten", 111, "D", "W"), ("Bank", 12, "D", "B"),
       ("Crediteuren", 22, "C", "B"), ("Debiteuren", 20, "D", "B"), ("Voorraad", 32, "D", "B"))
_ITEMS = ("Meel", "Dakpannen", "Kabel 3x2,5", "Tegels", "Bloembollen", "Pallets", "Verf", "Schroeven")
_ENTITY_NUMBER = {name: number for number, name in enumerate(
    ("accounts", "gl_accounts", "cost_centers", "cost_units", "projects", "purchase_order_lines",
     "transaction_lines", "payments", "purchase_orders", "entries"), start=1)}
"""Fixed numbers that make each entity's GUIDs (and the orders' and entries' they point to) differ."""


def local(moment: datetime) -> datetime:
    """A UTC moment as Exact writes it: Europe/Amsterdam wall time, no zone, to the millisecond."""
    wall = moment.astimezone(AMSTERDAM).replace(tzinfo=None)
    return wall.replace(microsecond=wall.microsecond // 1000 * 1000)


def json_value(value: Any) -> Any:
    """Dates as Exact's JSON writes them, `/Date(<ms>)/`: the local wall time counted as if it were UTC."""
    if isinstance(value, datetime):
        return f"/Date({int(value.replace(tzinfo=UTC).timestamp() * 1000)})/"
    return value


def json_row(row: Row) -> dict[str, Any]:
    return {name: json_value(value) for name, value in row.items()}


def _mix(*parts: int) -> int:
    """A cheap, well-spread 64-bit hash (splitmix64 steps): the same parts, the same number, in any run."""
    value = 0x9E3779B97F4A7C15
    for part in parts:
        value = ((value ^ (part & _MASK)) * 0xBF58476D1CE4E5B9) & _MASK
        value ^= value >> 31
        value = (value * 0x94D049BB133111EB) & _MASK
        value ^= value >> 29
    return value


class DataSize(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How many rows a division's generated data set has, per entity."""

    accounts: int = 25
    gl_accounts: int = 20
    cost_centers: int = 5
    cost_units: int = 3
    projects: int = 8
    purchase_order_lines: int = 12
    transaction_lines: int = 30
    payments: int = 10

    def count(self, entity: str) -> int:
        value: int = getattr(self, entity)
        return value


@dataclass(frozen=True)
class Generation:
    """What row `i` of any entity is computed from."""

    seed: int
    division: int
    size: DataSize
    modified: datetime
    """Local time of the newest generated rows."""

    def key(self, entity: str, index: int) -> str:
        """A GUID whose last 12 hex digits are the row's index."""
        prefix = _mix(self.seed, self.division, _ENTITY_NUMBER[entity])
        return f"{prefix >> 32:08x}-{(prefix >> 16) & 0xFFFF:04x}-4{(prefix >> 4) & 0xFFF:03x}-" \
               f"{0x8000 | (prefix & 0x3FFF):04x}-{index:012x}"

    def index(self, entity: str, key: str) -> int | None:
        head, _, tail = key.lower().rpartition("-")
        if head != self.key(entity, 0).rpartition("-")[0]:
            return None
        try:
            index = int(tail, 16)
        except ValueError:
            return None
        return index if index < self.size.count(entity) else None

    def draw(self, entity: str, index: int, salt: int, modulo: int) -> int:
        return _mix(self.seed, self.division, _ENTITY_NUMBER[entity], index, salt) % modulo

    def modified_at(self, entity: str, index: int) -> datetime:
        groups_back = (self.size.count(entity) - 1 - index) // GROUP_SIZE
        return self.modified - timedelta(seconds=30 * groups_back)

    def ref(self, entity: str, draw: int) -> tuple[str | None, int | None]:
        """A reference to some row of another entity: its key and index, or nothing when it has no rows."""
        count = self.size.count(entity)
        if count == 0:
            return None, None
        index = draw % count
        return self.key(entity, index), index


def _account(g: Generation, i: int) -> Row:
    name = f"{_NAMES[g.draw('accounts', i, 1, len(_NAMES))]} {_PLACES[g.draw('accounts', i, 2, len(_PLACES))]}"
    supplier = g.draw("accounts", i, 3, 3) != 0
    return {
        "ID": g.key("accounts", i), "Code": str(FIRST_ACCOUNT_CODE + i).rjust(ACCOUNT_CODE_WIDTH),
        "Name": f"{name} {i}", "Division": g.division, "IsSupplier": supplier, "IsSales": not supplier,
        "Status": "C", "Blocked": False, "VATNumber": f"NL{_mix(g.seed, i) % 10**9:09d}B01",
        "Email": f"administratie{i}@example.test", "City": _PLACES[g.draw("accounts", i, 2, len(_PLACES))],
        "Country": "NL", "Modified": g.modified_at("accounts", i),
    }


def _gl_account(g: Generation, i: int) -> Row:
    description, kind, side, balance = _GL[g.draw("gl_accounts", i, 1, len(_GL))]
    return {
        "ID": g.key("gl_accounts", i), "Code": str(1000 + i * 10), "Description": f"{description} {i}",
        "Type": kind, "BalanceSide": side, "BalanceType": balance, "Division": g.division,
        "Modified": g.modified_at("gl_accounts", i),
    }


def _cost_center(g: Generation, i: int) -> Row:
    return {"ID": g.key("cost_centers", i), "Code": f"KP{i + 1:03d}", "Description": f"Kostenplaats {i + 1}",
            "Active": True, "Division": g.division, "Modified": g.modified_at("cost_centers", i)}


def _cost_unit(g: Generation, i: int) -> Row:
    return {"ID": g.key("cost_units", i), "Code": f"KD{i + 1:03d}", "Description": f"Kostendrager {i + 1}",
            "Division": g.division, "Modified": g.modified_at("cost_units", i)}


def _project(g: Generation, i: int) -> Row:
    account, _ = g.ref("accounts", g.draw("projects", i, 1, _MASK))
    start = date(2026, 1, 1) + timedelta(days=g.draw("projects", i, 2, 300))
    return {"ID": g.key("projects", i), "Code": f"P{26000 + i}", "Description": f"Project {i + 1}",
            "Account": account, "Type": 2, "StartDate": datetime.combine(start, datetime.min.time()),
            "EndDate": None, "Division": g.division, "Modified": g.modified_at("projects", i)}


def _purchase_order_line(g: Generation, i: int) -> Row:
    order, line = divmod(i, LINES_PER_ORDER)
    supplier, _ = g.ref("accounts", g.draw("purchase_order_lines", order, 1, _MASK))
    quantity = float(1 + g.draw("purchase_order_lines", i, 2, 20))
    status = (ORDER_OPEN, ORDER_PARTIAL, ORDER_COMPLETE, ORDER_CANCELLED)[g.draw("purchase_order_lines", order, 3, 4)]
    received = {ORDER_OPEN: 0.0, ORDER_PARTIAL: float(int(quantity) // 2), ORDER_COMPLETE: quantity,
                ORDER_CANCELLED: 0.0}[status]
    price = round(2.5 + g.draw("purchase_order_lines", i, 4, 9750) / 100, 2)
    return {
        "ID": g.key("purchase_order_lines", i), "PurchaseOrderID": g.key("purchase_orders", order),
        "OrderNumber": 20260001 + order, "LineNumber": line + 1, "Supplier": supplier,
        "Description": _ITEMS[g.draw("purchase_order_lines", i, 5, len(_ITEMS))], "Quantity": quantity,
        "ReceivedQuantity": received, "InvoicedQuantity": received if status == ORDER_COMPLETE else 0.0,
        "UnitPrice": price, "AmountFC": round(price * quantity, 2), "Currency": "EUR", "OrderStatus": status,
        "OrderDate": datetime.combine(date(2026, 1, 5) + timedelta(days=order % 320), datetime.min.time()),
        "Division": g.division, "Modified": g.modified_at("purchase_order_lines", i),
    }


def _transaction_line(g: Generation, i: int) -> Row:
    gl_account, gl_index = g.ref("gl_accounts", g.draw("transaction_lines", i, 1, _MASK))
    account, account_index = g.ref("accounts", g.draw("transaction_lines", i, 2, _MASK))
    project, project_index = g.ref("projects", g.draw("transaction_lines", i, 3, _MASK))
    centers, units = g.size.cost_centers, g.size.cost_units
    entry = i // 2
    return {
        "ID": g.key("transaction_lines", i), "EntryID": g.key("entries", entry),
        "EntryNumber": 26700001 + entry, "LineNumber": i % 2 + 1, "JournalCode": "70", "Type": 30,
        "Date": datetime.combine(date(2026, 1, 2) + timedelta(days=entry % 330), datetime.min.time()),
        "FinancialYear": 2026, "FinancialPeriod": 1 + entry % 12,
        "GLAccount": gl_account, "GLAccountCode": None if gl_index is None else str(1000 + gl_index * 10),
        "Account": account,
        "AccountCode": None if account_index is None else str(FIRST_ACCOUNT_CODE + account_index).rjust(18),
        "AmountDC": round(10 + g.draw("transaction_lines", i, 4, 99_000) / 100, 2), "Description": f"Regel {i + 1}",
        "CostCenter": f"KP{g.draw('transaction_lines', i, 5, centers) + 1:03d}" if centers else None,
        "CostUnit": f"KD{g.draw('transaction_lines', i, 6, units) + 1:03d}" if units else None,
        "Project": project, "ProjectCode": None if project_index is None else f"P{26000 + project_index}",
        "Division": g.division, "Modified": g.modified_at("transaction_lines", i),
    }


def _payment(g: Generation, i: int) -> Row:
    account, account_index = g.ref("accounts", g.draw("payments", i, 1, _MASK))
    status = (PAYMENT_OPEN, PAYMENT_SELECTED, PAYMENT_PROCESSED, PAYMENT_MATCHED)[g.draw("payments", i, 2, 4)]
    due = datetime.combine(date(2026, 2, 1) + timedelta(days=i % 300), datetime.min.time())
    return {
        "ID": g.key("payments", i), "TransactionEntryID": g.key("entries", i),
        "Account": account,
        "AccountCode": None if account_index is None else str(FIRST_ACCOUNT_CODE + account_index).rjust(18),
        "EntryNumber": 26700001 + i, "YourRef": None,
        "AmountFC": round(-(5 + g.draw("payments", i, 3, 50_000) / 100), 2),
        "Currency": "EUR", "Description": f"Factuur {i + 1}", "DueDate": due,
        "EndDate": due + timedelta(days=3) if status in (PAYMENT_PROCESSED, PAYMENT_MATCHED) else None,
        "Status": status, "PaymentBlocked": False, "Division": g.division, "Modified": g.modified_at("payments", i),
    }


@dataclass(frozen=True)
class Kind:
    """One entity of the sandbox's master data."""

    name: str
    fields: tuple[str, ...]
    """Every property, in the order Exact lists them; `Timestamp` comes on top for sync endpoints."""
    deleted_type: int | None
    """Its `EntityType` in `sync/Deleted` (Exact's Sync API documentation), or None when deletes go unreported."""
    make: Callable[[Generation, int], Row]


def _fields(make: Callable[[Generation, int], Row]) -> tuple[str, ...]:
    probe = Generation(0, 0, DataSize(), datetime(2026, 1, 1))
    return tuple(make(probe, 0))


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("accounts", _fields(_account), 2, _account),
    Kind("gl_accounts", _fields(_gl_account), 7, _gl_account),
    Kind("cost_centers", _fields(_cost_center), None, _cost_center),
    Kind("cost_units", _fields(_cost_unit), None, _cost_unit),
    Kind("projects", _fields(_project), 21, _project),
    Kind("purchase_order_lines", _fields(_purchase_order_line), 22, _purchase_order_line),
    Kind("transaction_lines", _fields(_transaction_line), 1, _transaction_line),
    Kind("payments", _fields(_payment), None, _payment),
)}
DELETED_FIELDS = ("ID", "EntityKey", "EntityType", "DeletedBy", "DeletedDate", "Division", "Timestamp")


class Unknown(Exception):
    """No such entity or row: the controls answer 404."""


class Table:
    """The rows of one entity in one division: generated rows `0..count-1`, minus `gone`, plus `overlay`."""

    def __init__(self, kind: Kind, generation: Generation, base: int) -> None:
        self.kind = kind
        self._generation = generation
        self.count = generation.size.count(kind.name)
        self.base = base
        """Generated row `i` has row version `base + i + 1`."""
        self.gone: set[int] = set()
        self.overlay: dict[str, Row] = {}
        """Created or changed rows by key, in row-version order (a change moves a row to the end)."""

    def generated(self, index: int) -> Row:
        row = self.kind.make(self._generation, index)
        row["Timestamp"] = self.base + index + 1
        return row

    def __len__(self) -> int:
        return self.count - len(self.gone) + len(self.overlay)

    def find(self, key: str) -> Row | None:
        key = key.lower()
        if key in self.overlay:
            return self.overlay[key]
        index = self._index(key)
        return None if index is None or index in self.gone else self.generated(index)

    def rows(self, after: int = 0) -> Iterator[Row]:
        """Every row with a row version above `after`, in row-version order."""
        start = max(0, after - self.base)
        for index in range(start, self.count):
            if index not in self.gone:
                yield self.generated(index)
        for row in self.overlay.values():
            if row["Timestamp"] > after:
                yield row

    def put(self, row: Row) -> None:
        key = row["ID"]
        index = self._index(key)
        if index is not None:
            self.gone.add(index)
        self.overlay.pop(key, None)
        self.overlay[key] = row

    def remove(self, key: str) -> Row:
        row = self.find(key)
        if row is None:
            raise Unknown(f"No {self.kind.name} row {key!r}.")
        index = self._index(row["ID"])
        if index is not None:
            self.gone.add(index)
        self.overlay.pop(row["ID"], None)
        return row

    def _index(self, key: str) -> int | None:
        return self._generation.index(self.kind.name, key)


class DivisionData:
    """One division's master data and its `sync/Deleted` feed, under one row-version counter."""

    def __init__(self, *, seed: int, division: int, size: DataSize, now: datetime, last_version: int = 1) -> None:
        self.size = size
        self.generation = Generation(seed, division, size, local(now).replace(microsecond=0))
        self.version = last_version
        self.tables: dict[str, Table] = {}
        for kind in KINDS.values():
            table = self.tables[kind.name] = Table(kind, self.generation, self.version)
            self.version += table.count
        self.deleted: list[Row] = []
        """`sync/Deleted` rows, in row-version order."""

    def table(self, entity: str) -> Table:
        if entity not in self.tables:
            raise Unknown(f"No entity {entity!r}; one of {', '.join(KINDS)}.")
        return self.tables[entity]

    def next_version(self) -> int:
        self.version += 1
        return self.version

    def deleted_after(self, after: int) -> list[Row]:
        start = bisect.bisect_right([row["Timestamp"] for row in self.deleted], after)
        return self.deleted[start:]

    def create(self, entity: str, fields: Row, now: datetime, *, key: str) -> Row:
        table = self.table(entity)
        unknown = set(fields) - set(table.kind.fields)
        if unknown:
            raise ValueError(f"Property {sorted(unknown)[0]} does not exist.")
        row: Row = dict.fromkeys(table.kind.fields)
        row.update(fields)
        row.update({"ID": key.lower(), "Division": self.generation.division,
                    "Modified": local(now), "Timestamp": self.next_version()})
        if entity == "accounts" and isinstance(row["Code"], str):
            row["Code"] = row["Code"].strip().rjust(ACCOUNT_CODE_WIDTH)
        table.put(row)
        return row

    def change(self, entity: str, key: str, fields: Row, now: datetime) -> Row:
        table = self.table(entity)
        row = table.find(key)
        if row is None:
            raise Unknown(f"No {entity} row {key!r}.")
        unknown = set(fields) - set(table.kind.fields) | set(fields) & {"ID", "Division", "Modified", "Timestamp"}
        if unknown:
            raise ValueError(f"Property {sorted(unknown)[0]} cannot be changed.")
        changed = {**row, **fields, "Modified": local(now), "Timestamp": self.next_version()}
        if entity == "accounts" and isinstance(changed["Code"], str):
            changed["Code"] = changed["Code"].strip().rjust(ACCOUNT_CODE_WIDTH)
        table.put(changed)
        return changed

    def delete(self, entity: str, key: str, now: datetime, *, hard: bool, user: str = "sandbox") -> Row | None:
        """Remove a row. A soft delete is reported in `sync/Deleted` (if the entity has an EntityType there);
        a hard delete is not, as when rows vanish in Exact without a trace: only a full read notices."""
        table = self.table(entity)
        row = table.remove(key)
        if hard or table.kind.deleted_type is None:
            return None
        record = {"ID": str(uuid.UUID(int=_mix(self.version, row["Timestamp"]) << 64 | row["Timestamp"])),
                  "EntityKey": row["ID"], "EntityType": table.kind.deleted_type, "DeletedBy": user,
                  "DeletedDate": local(now), "Division": self.generation.division, "Timestamp": self.next_version()}
        self.deleted.append(record)
        return record

    def code_taken(self, code: str) -> bool:
        table = self.tables["accounts"]
        code = code.strip()
        if code.isdigit() and 0 <= int(code) - FIRST_ACCOUNT_CODE < table.count and str(int(code)) == code:
            index = int(code) - FIRST_ACCOUNT_CODE
            if index not in table.gone:
                return True
        return any(str(row["Code"]).strip() == code for row in table.overlay.values())

    def report(self) -> dict[str, Any]:
        return {"division": self.generation.division, "size": msgspec.to_builtins(self.size),
                "rows": {name: len(table) for name, table in self.tables.items()},
                "deleted_reported": len(self.deleted), "last_timestamp": self.version}


class MasterData:
    """Every division's data set. A new size replaces a division's data set; row versions keep increasing."""

    def __init__(self, *, seed: int, size: DataSize, clock: Callable[[], datetime]) -> None:
        self._seed = seed
        self._size = size
        self._clock = clock
        self._divisions: dict[int, DivisionData] = {}

    def division(self, code: int) -> DivisionData:
        data = self._divisions.get(code)
        if data is None:
            data = self._divisions[code] = DivisionData(seed=self._seed, division=code, size=self._size,
                                                        now=self._clock())
        return data

    def resize(self, code: int, size: DataSize) -> DivisionData:
        for name in KINDS:
            if not 0 <= size.count(name) <= MAX_ROWS:
                raise ValueError(f"{name} is between 0 and {MAX_ROWS}.")
        old = self.division(code)
        data = self._divisions[code] = DivisionData(seed=self._seed, division=code, size=size, now=self._clock(),
                                                    last_version=old.version)
        return data


def matching(rows: Iterator[Row], predicate: Predicate | None, limit: int) -> tuple[list[Row], bool]:
    """Up to `limit` rows that satisfy the predicate, and whether more remain."""
    found: list[Row] = []
    for row in rows:
        if predicate is None or predicate(row):
            if len(found) == limit:
                return found, True
            found.append(row)
    return found, False
