"""Public routes: the status page and the /api/v2 documents, served from PublicPages' memory.

Every public route answers GET and HEAD (clients of hosted status pages probe with HEAD), sends
an ETag and Cache-Control, and answers a matching If-None-Match with 304 and no body.
"""

from __future__ import annotations

from litestar import HttpMethod, Request, Response, route
from litestar.exceptions import HTTPException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response.base import ASGIResponse

from statuspage import api_v2
from statuspage.i18n import choose_language, zone_named
from statuspage.public import PublicPages, Rendered
from statuspage.settings import LANGUAGES

# Short enough that a customer who reloads sees news within seconds, long enough that a flood
# of reloads is mostly answered by browsers and proxies, or with a 304.
PAGE_CACHE_CONTROL = "public, max-age=10, stale-while-revalidate=30"
API_CACHE_CONTROL = "public, max-age=10"
READ_METHODS = [HttpMethod.GET, HttpMethod.HEAD]


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110: a weak comparison of the ETag against each one listed, or `*`."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == wanted for candidate in if_none_match.split(","))


class PreparedAnswers:
    """The three answers one rendered document can get, built once because they are sent thousands
    of times: handing Litestar a ready ASGIResponse, instead of a Response to convert and a
    dependency to resolve, serves about 50% more requests a second (bench/load.py)."""

    def __init__(self, rendered: Rendered, cache_control: str, vary: str | None) -> None:
        headers = {"ETag": rendered.etag, "Cache-Control": cache_control} | ({"Vary": vary} if vary else {})
        self.etag = rendered.etag
        self.full = ASGIResponse(body=rendered.body, media_type=rendered.media_type, headers=headers)
        # A HEAD answer carries the headers a GET would, body length included, and no body.
        content_type = f"{rendered.media_type}; charset=utf-8" if rendered.media_type.startswith("text/") else rendered.media_type
        self.head = ASGIResponse(
            is_head_response=True,
            headers=headers | {"Content-Type": content_type, "Content-Length": str(len(rendered.body))},
        )
        self.not_modified = ASGIResponse(status_code=304, headers=headers)

    def answer(self, request: Request) -> ASGIResponse:
        if etag_matches(request.headers.get("if-none-match"), self.etag):
            return self.not_modified
        return self.head if request.method == HttpMethod.HEAD else self.full


# Rendered documents change with the data; keep the answers of the current ones only.
_MAX_PREPARED = 256
_prepared: dict[tuple[str, str, str | None], PreparedAnswers] = {}


def cached_answer(request: Request, rendered: Rendered, cache_control: str, vary: str | None = None) -> ASGIResponse:
    key = (rendered.etag, cache_control, vary)
    answers = _prepared.get(key)
    if answers is None:
        if len(_prepared) >= _MAX_PREPARED:
            _prepared.clear()
        answers = _prepared[key] = PreparedAnswers(rendered, cache_control, vary)
    return answers.answer(request)


def public_pages(request: Request) -> PublicPages:
    return request.app.state.pages


@route("/", http_method=READ_METHODS, name="status_page", include_in_schema=False)
async def status_page(
    request: Request, lang: FromQuery[str | None] = None, tz: FromQuery[str | None] = None
) -> ASGIResponse:
    pages = public_pages(request)
    if lang is not None and lang not in LANGUAGES:
        raise HTTPException(status_code=400, detail=f"lang={lang!r} is not offered; use lang=nl or lang=en")
    zone = pages.settings.zone if tz is None else zone_named(tz)
    if zone is None:
        raise HTTPException(
            status_code=400, detail=f"tz={tz!r} is not a time zone; use an IANA name such as tz=Europe/Amsterdam"
        )
    language = choose_language(lang, request.headers.get("accept-language"), pages.settings.page.language)
    rendered = await pages.page(language, zone)
    return cached_answer(request, rendered, PAGE_CACHE_CONTROL, "Accept-Language")


def _document_handler(name: str, document_type: type) -> HTTPRouteHandler:
    async def serve_document(request: Request) -> ASGIResponse:
        return cached_answer(request, await public_pages(request).document(name), API_CACHE_CONTROL)

    operation = name.removesuffix(".json").replace("/", "_").replace("-", "_")
    return route(
        f"/api/v2/{name}",
        http_method=READ_METHODS,
        name=f"api_v2_{operation}",
        summary=f"The {name} document of the public API v2",
        tags=["Public API v2"],
        responses={200: ResponseSpec(data_container=document_type, description="As on hosted status pages")},
    )(serve_document)


API_V2_HANDLERS = [_document_handler(name, document_type) for name, (_, document_type) in api_v2.DOCUMENTS.items()]
PUBLIC_HANDLERS = [status_page, *API_V2_HANDLERS]
