"""A local Visma.net Financials: Visma Connect's client-credentials tokens, the ERP API's customer endpoints, its
hourly limits per company and client, its error shapes, with switchable faults and a control API.

A stand-in for a service tests and the demo cannot reach, never a replacement for the client's code paths.
"""

from integrations.visma_net.sandbox.faults import Faults
from integrations.visma_net.sandbox.scenario import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SandboxCompany,
    Scenario,
    SeedCustomer,
    demo_scenario,
    demo_users,
    empty_scenario,
)
from integrations.visma_net.sandbox.server import VismaNetSandbox, main

start_demo = VismaNetSandbox.start_demo

__all__ = [
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "Faults",
    "SandboxCompany",
    "Scenario",
    "SeedCustomer",
    "VismaNetSandbox",
    "demo_scenario",
    "demo_users",
    "empty_scenario",
    "main",
    "start_demo",
]
