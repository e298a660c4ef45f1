"""Visma.net Financials: a client of its ERP API's customer endpoints (Visma Connect client credentials, hourly
limits per company and client), and a local sandbox speaking the same protocol.

The sandbox is a package of its own (`integrations.visma_net.sandbox`), imported only by whoever runs one.
"""

from integrations.visma_net.client import Company, Condition, VismaNetClient
from integrations.visma_net.customers import Customer, CustomerChange, CustomerDraft
from integrations.visma_net.oauth import AccessToken, ServiceApp
from integrations.visma_net.rate_limits import HourlyLimits, Window
from integrations.visma_net.settings import DEFAULT_API_URL, DEFAULT_CONNECT_URL, SERVICE_SCOPES, VismaNetSettings

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_CONNECT_URL",
    "SERVICE_SCOPES",
    "AccessToken",
    "Company",
    "Condition",
    "Customer",
    "CustomerChange",
    "CustomerDraft",
    "HourlyLimits",
    "ServiceApp",
    "VismaNetClient",
    "VismaNetSettings",
    "Window",
]
