"""Addresses the service will send to: webhook and callback URLs, e-mail addresses, mail headers.

Pure functions: each takes the text a person typed and returns it checked (and, for e-mail, in its
normal form), or raises `Refused` with a message that says what is wrong. The parsing is done by
well-kept libraries, not by our own patterns: `httpx` (the client that will make the call, so a URL
it accepts here is a URL it can send to), `idna` (UTS #46 / IDNA 2008 host names) and
`email-validator` (RFC 5321/5322 addresses, IDNA domains).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import email_validator
import httpx
import idna

from statuspage.core.operation import Refused

MAX_URL_LENGTH = 2000
# C0 controls, space, DEL and the C1 controls: never part of a URL as typed (RFC 3986 §2, §7.3),
# and CR/LF in one would split an HTTP request's lines.
_UNSAFE_IN_URL = re.compile(r"[\x00-\x20\x7f-\x9f]")
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def web_address(url: str, field: str = "url") -> str:
    """A webhook or callback URL checked for sending: `http(s)://host[:port]/...`, host a valid IDNA name
    or an IP literal, no whitespace or control characters, at most 2,000 characters.

    Returns the URL unchanged; raises `Refused` naming `field` and the reason otherwise.
    """
    if len(url) > MAX_URL_LENGTH:
        raise Refused(f"{field} is longer than {MAX_URL_LENGTH} characters")
    unsafe = _UNSAFE_IN_URL.search(url)
    if unsafe:
        raise Refused(f"{field} must not contain spaces or control characters; found {unsafe.group()!r} "
                      f"at position {unsafe.start()}")
    if not url.lower().startswith(("https://", "http://")):
        raise Refused(f"{field} {url!r} must start with https:// (or http://)")
    try:
        parsed = httpx.URL(url)
        port = parsed.port
    except (httpx.InvalidURL, ValueError) as error:
        raise Refused(f"{field} {url!r} is not a valid URL: {error}") from None
    host = parsed.host
    if not host:
        raise Refused(f"{field} {url!r} names no host")
    if port is not None and not 0 < port < 65536:
        raise Refused(f"{field} {url!r} has port {port}, outside 1–65535")
    if not host.isascii():  # an internationalised name must be valid IDNA (ASCII names are httpx's to judge)
        try:
            idna.encode(host, uts46=True)
        except idna.IDNAError as error:
            raise Refused(f"{field} {url!r} has a host name that is not valid IDNA: {error}") from None
    return url


def email_address(address: str, field: str = "email") -> str:
    """An e-mail address checked for sending (syntax only, no DNS look-up), in its normal form.

    Raises `Refused` ("... does not look like an e-mail address: <why>") otherwise; CR, LF and other
    control characters are refused, so an address can never add a header to a mail.
    """
    try:
        valid = email_validator.validate_email(address, check_deliverability=False)
    except email_validator.EmailNotValidError as error:
        raise Refused(f"{address!r} does not look like an e-mail address: {error}") from None
    return valid.normalized


def header_text(text: str, limit: int = 300) -> str:
    """Text made safe for one mail header line (a Subject): line breaks and controls become spaces,
    cut to `limit` characters. A header with CR/LF would otherwise end the header block (RFC 5322 §2.2)."""
    return " ".join(_LINE_BREAKS.sub(" ", text).split())[:limit]


# ---------------------------------------------------------------------------------------------
# Targets inside the service's own network (SSRF)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP literal in any form a resolver accepts ("127.0.0.1", "2130706433", "0x7f.1", "::1"), else None."""
    text = text.strip("[]").split("%")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        pass
    else:  # an IPv4-mapped IPv6 address is that IPv4 address
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        return mapped or address
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def inside_kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Which kind of internal address this is ("loopback", "unspecified", "link-local", "private", ...),
    or None for an address on the public internet. An IPv4-mapped IPv6 address is judged as its IPv4."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind, inside in (("loopback", address.is_loopback), ("unspecified", address.is_unspecified),
                         ("link-local", address.is_link_local), ("multicast", address.is_multicast),
                         ("private", address.is_private), ("reserved", address.is_reserved)):
        if inside:
            return kind
    return None


def refuse_internal_literal(url: str, field: str = "url") -> None:
    """At saving: refuse a URL whose host is an internal IP literal or `localhost` (names are resolved and
    checked when sending, `refuse_internal_addresses`). Raises Refused saying which kind of address it is."""
    host = httpx.URL(url).host
    if host == "localhost" or host.endswith(".localhost"):
        raise Refused(f"{field} {url!r} points at this machine (localhost); webhooks and callbacks must reach "
                      "the public internet")
    address = _ip(host)
    kind = inside_kind(address) if address is not None else None
    if kind:
        raise Refused(f"{field} {url!r} points at {address}, a {kind} address; webhooks and callbacks must reach "
                      "the public internet")


def refuse_internal_addresses(host: str, resolved: list[str]) -> None:
    """At sending: refuse when any address `host` resolved to is internal (a name may resolve anywhere, and
    may change after it was saved). Raises Refused naming the address and its kind."""
    for text in resolved:
        address = _ip(text)
        kind = inside_kind(address) if address is not None else None
        if kind:
            raise Refused(f"refused: {host} resolves to {address}, a {kind} address")


# ---------------------------------------------------------------------------------------------
# Credentials in URLs, for those who may not see them


_URL_IN_TEXT = re.compile(r"https?://[^\s\"'<>]+", re.IGNORECASE)


def masked(url: str) -> str:
    """`url` with what may be a credential hidden: the user and password (`https://***@host/...`) and every
    query value (`?token=***`). The host, port and path stay, so people can still tell hooks apart."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = "&".join(f"{name}=***" if value or "=" in pair else name
                     for pair in parts.query.split("&") if pair
                     for name, _, value in [pair.partition("=")])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def masked_in(value: Any) -> Any:
    """`value` (text, or JSON-like lists and dicts, e.g. an audit entry's before/after) with every URL in it
    `masked`."""
    if isinstance(value, str):
        return _URL_IN_TEXT.sub(lambda match: masked(match.group()), value)
    if isinstance(value, list):
        return [masked_in(item) for item in value]
    if isinstance(value, dict):
        return {key: masked_in(item) for key, item in value.items()}
    return value


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[str]) -> str:
    """Who is calling: the peer's address, or, when the peer is one of `trusted_proxies` (addresses or networks,
    "10.0.0.0/8"), the right-most address in `X-Forwarded-For` that is not a trusted proxy itself. A header from
    anyone else is ignored: a visitor could write any address in it. "unknown" without a peer."""
    if not peer:
        return "unknown"
    networks = [ipaddress.ip_network(proxy, strict=False) for proxy in trusted_proxies]

    def trusted(text: str) -> bool:
        address = _ip(text.strip())
        return address is not None and any(address in network for network in networks)

    if not forwarded_for or not trusted(peer):
        return peer
    for hop in reversed([hop.strip() for hop in forwarded_for.split(",") if hop.strip()]):
        if not trusted(hop):
            return hop if _ip(hop) is not None else peer
    return peer
