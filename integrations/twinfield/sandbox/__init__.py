"""A local Twinfield: its identity server (OpenID Connect with rotating refresh tokens and access-token
validation) and clusters serving ProcessXml and the Finder over SOAP, with credits, a concurrency limit and
switchable faults.

A stand-in for a service tests and the demo cannot reach, never a replacement for the connector's code paths.
"""

from integrations.twinfield.sandbox.faults import Faults
from integrations.twinfield.sandbox.scenario import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    Environment,
    SandboxOffice,
    SandboxOrganisation,
    SandboxUser,
    Scenario,
    demo_scenario,
    demo_users,
)
from integrations.twinfield.sandbox.server import TwinfieldSandbox, main

start_demo = TwinfieldSandbox.start_demo

__all__ = [
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "Environment",
    "Faults",
    "SandboxOffice",
    "SandboxOrganisation",
    "SandboxUser",
    "Scenario",
    "TwinfieldSandbox",
    "demo_scenario",
    "demo_users",
    "main",
    "start_demo",
]
