"""Exact Online: a client of its REST API, the connector built on it, and a local sandbox speaking the same protocol.

The sandbox is a package of its own (`integrations.exact_online.sandbox`), imported only by whoever runs one.
`integration.EXACT_ONLINE` is its description for the registry (`integrations.registry`).
"""

from integrations.exact_online.client import RetryPolicy
from integrations.exact_online.connector import ExactOnlineConnector
from integrations.exact_online.oauth import DEFAULT_BASE_URL, OAuthApp, authorization_url, exchange_code
from integrations.exact_online.rate_limits import RateLimits
from integrations.exact_online.sync import ENTITIES, DivisionReader, ModifiedCursor
from integrations.exact_online.tokens import InMemoryTokenStore, Tokens, TokenStore

__all__ = [
    "DEFAULT_BASE_URL",
    "ENTITIES",
    "DivisionReader",
    "ExactOnlineConnector",
    "InMemoryTokenStore",
    "ModifiedCursor",
    "OAuthApp",
    "RateLimits",
    "RetryPolicy",
    "TokenStore",
    "Tokens",
    "authorization_url",
    "exchange_code",
]
