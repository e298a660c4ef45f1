"""How every process of the service writes its log lines: times in UTC, and saying so.

`2026-12-01 04:08:45.216 UTC INFO statuspage.demo: ...`: a log is read next to other machines' logs and the
database's moments, which are UTC; a time without its zone is read wrong by whoever sits in another one.
"""

from __future__ import annotations

import logging
import time

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class UtcFormatter(logging.Formatter):
    """A `logging.Formatter` whose `%(asctime)s` is UTC with milliseconds and the word UTC."""

    converter = staticmethod(time.gmtime)
    default_time_format = "%Y-%m-%d %H:%M:%S"
    default_msec_format = "%s.%03d UTC"


def formatter_config(fmt: str = LOG_FORMAT) -> dict[str, object]:
    """The formatter, as `logging.config.dictConfig` (Litestar's and granian's log settings) takes one."""
    return {"()": UtcFormatter, "fmt": fmt}


def configure(level: int = logging.INFO) -> None:
    """Log to stderr in this format (a process without Litestar's logging: `statuspage worker`)."""
    handler = logging.StreamHandler()
    handler.setFormatter(UtcFormatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
