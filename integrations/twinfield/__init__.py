"""Twinfield: a client of its SOAP web services, the connector built on it, and a local sandbox speaking the same
protocol.

The sandbox is a package of its own (`integrations.twinfield.sandbox`), imported only by whoever runs one.
"""

from integrations.tokens import InMemoryTokenStore, Tokens, TokenStore
from integrations.twinfield.client import OrganisationGates
from integrations.twinfield.connector import TwinfieldConnector
from integrations.twinfield.oauth import OAuthApp, Session, authorization_url, exchange_code, refresh_tokens, validate
from integrations.twinfield.settings import DEFAULT_LOGIN_URL, TwinfieldSettings

__all__ = [
    "DEFAULT_LOGIN_URL",
    "InMemoryTokenStore",
    "OAuthApp",
    "OrganisationGates",
    "Session",
    "TokenStore",
    "Tokens",
    "TwinfieldConnector",
    "TwinfieldSettings",
    "authorization_url",
    "exchange_code",
    "refresh_tokens",
    "validate",
]
