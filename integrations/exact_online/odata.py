"""OData literals for `$filter` and keys: the only place user data enters a query."""

from __future__ import annotations

import uuid


def string(value: str) -> str:
    """`O'Brien` becomes `'O''Brien'`: a quote inside an OData string is doubled."""
    return "'" + value.replace("'", "''") + "'"


def guid(value: str) -> str:
    """A GUID literal; anything that is not a GUID is refused rather than spliced into a URL."""
    return f"guid'{uuid.UUID(value)}'"
