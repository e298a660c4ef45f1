"""Public routes: the status page, incident pages, feeds and the /api/v2 documents, from memory.

Every public route answers GET and HEAD (clients of hosted status pages probe with HEAD), sends
an ETag and Cache-Control, and answers a matching If-None-Match with 304 and no body.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from litestar import HttpMethod, Request, route
from litestar.exceptions import HTTPException, NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery
from litestar.response.base import ASGIResponse

from statuspage.core.i18n import choose_language, word, zone_named
from statuspage.core.settings import LANGUAGES
from statuspage.page import api_v2
from statuspage.page.public import PublicPages, Rendered

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


def request_header(request: Request, name: bytes) -> str | None:
    """The value of the request header `name` (lower case, as ASGI gives names), its repeats joined by ", " as
    RFC 9110 allows for list headers; None when absent.

    Read from the scope's raw list, not `request.headers`: building Litestar's `Headers` costs about 12 µs a
    request (Litestar 2.25), a tenth of what a ready answer costs in the server, and these routes need two headers."""
    values = [value.decode("latin-1") for key, value in request.scope["headers"] if key == name]
    return ", ".join(values) if values else None


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
        if etag_matches(request_header(request, b"if-none-match"), self.etag):
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
    # Looked up, not injected (`web.dependencies`), on purpose: these routes answer the flood of reloads during
    # an outage, and resolving even a cached dependency costs about 15% of a request's time in-process (measured
    # with Litestar 2.25: ~52,000 against ~44,000 requests a second for a ready ASGIResponse), the cost
    # `PreparedAnswers` exists to avoid.
    return request.app.state.pages


def visitor_preferences(request: Request, lang: str | None, tz: str | None) -> tuple[str, ZoneInfo, bool]:
    """The language and time zone to show: asked for in the query, else the browser's, else the page's.

    An unknown `tz` falls back to the page's zone, and the third value says so: the page then tells the
    visitor, rather than answering with an error page (issue 12). An empty `tz` is no choice: the page's zone."""
    settings = public_pages(request).settings
    if lang is not None and lang not in LANGUAGES:
        raise HTTPException(status_code=400, detail=f"lang={lang!r} is not offered; use lang=nl or lang=en")
    zone = zone_named(tz) if tz else settings.zone
    language = choose_language(lang, request_header(request, b"accept-language"), settings.page.language)
    return language, zone or settings.zone, zone is None


@route("/", http_method=READ_METHODS, name="status_page", include_in_schema=False)
async def status_page(
    request: Request, lang: FromQuery[str | None] = None, tz: FromQuery[str | None] = None
) -> ASGIResponse:
    language, zone, zone_unknown = visitor_preferences(request, lang, tz)
    rendered = await public_pages(request).page(language, zone, zone_unknown)
    return cached_answer(request, rendered, PAGE_CACHE_CONTROL, "Accept-Language")


@route(["/nl", "/en"], http_method=READ_METHODS, name="status_page_in_language", include_in_schema=False)
async def status_page_in_language(request: Request, tz: FromQuery[str | None] = None) -> ASGIResponse:
    """`/nl/` and `/en/`: the status page in that language whatever the browser asks, with an address of its
    own, so that a static export (page/export.py) can offer each language as a file."""
    language = request.url.path.strip("/")
    _, zone, zone_unknown = visitor_preferences(request, language, tz)
    rendered = await public_pages(request).page(language, zone, zone_unknown)
    return cached_answer(request, rendered, PAGE_CACHE_CONTROL)


@route("/incidents/{incident_id:str}", http_method=READ_METHODS, name="incident_page", include_in_schema=False)
async def incident_page(
    request: Request, incident_id: FromPath[str], lang: FromQuery[str | None] = None, tz: FromQuery[str | None] = None
) -> ASGIResponse:
    language, zone, zone_unknown = visitor_preferences(request, lang, tz)
    rendered = await public_pages(request).incident_page(incident_id, language, zone, zone_unknown)
    if rendered is None:
        raise NotFoundException(word(language, "incident_not_found"))
    return cached_answer(request, rendered, PAGE_CACHE_CONTROL, "Accept-Language")


@route([f"/{language}/incidents/{{incident_id:str}}" for language in LANGUAGES], http_method=READ_METHODS,
       name="incident_page_in_language", include_in_schema=False)
async def incident_page_in_language(
    request: Request, incident_id: FromPath[str], tz: FromQuery[str | None] = None
) -> ASGIResponse:
    """`/nl/incidents/ID`, `/en/incidents/ID`: an incident's page in that language, at an address of its own like
    `/nl/` and `/en/` (the static export writes a file for each)."""
    language = request.url.path.split("/")[1]
    _, zone, zone_unknown = visitor_preferences(request, language, tz)
    rendered = await public_pages(request).incident_page(incident_id, language, zone, zone_unknown)
    if rendered is None:
        raise NotFoundException(word(language, "incident_not_found"))
    return cached_answer(request, rendered, PAGE_CACHE_CONTROL)


def _feed_handler(kind: str) -> HTTPRouteHandler:
    async def serve_feed(request: Request, lang: FromQuery[str | None] = None) -> ASGIResponse:
        # A feed reader sends no Accept-Language worth following: ?lang= or the page's language.
        if lang is not None and lang not in LANGUAGES:
            raise HTTPException(status_code=400, detail=f"lang={lang!r} is not offered; use lang=nl or lang=en")
        return cached_answer(request, await public_pages(request).feed(kind, lang), API_CACHE_CONTROL)

    return route(f"/history.{kind}", http_method=READ_METHODS, name=f"history_{kind}", include_in_schema=False)(
        serve_feed
    )


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
PUBLIC_HANDLERS = [status_page, status_page_in_language, incident_page, incident_page_in_language,
                   _feed_handler("atom"), _feed_handler("rss"), *API_V2_HANDLERS]
