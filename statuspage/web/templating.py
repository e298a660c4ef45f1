"""The Jinja2 environment shared by the public page and (later) the operator console."""

from __future__ import annotations

from pathlib import Path

import jinja2

from statuspage.core import markdown


def make_environment(templates_dir: str | Path) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["markdown"] = markdown.render
    return environment
