"""A local Exact Online: the same endpoints, shapes, headers, token rules and errors, with switchable faults.

A stand-in for a service tests and the demo cannot reach, never a replacement for the connector's code paths.
"""

from integrations.exact_online.sandbox.faults import Faults
from integrations.exact_online.sandbox.scenario import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    Environment,
    SandboxDivision,
    SandboxUser,
    Scenario,
    demo_scenario,
    demo_users,
)
from integrations.exact_online.sandbox.server import ExactOnlineSandbox, main

start_demo = ExactOnlineSandbox.start_demo

__all__ = [
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "Environment",
    "ExactOnlineSandbox",
    "Faults",
    "SandboxDivision",
    "SandboxUser",
    "Scenario",
    "demo_scenario",
    "demo_users",
    "main",
    "start_demo",
]
