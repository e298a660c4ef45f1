"""A probe's hysteresis, and which state a failed run claims.

A single blip must not flap the public page: a probe claims a status only after several failed
runs in a row, and gives it up only after several passes in a row. Plain Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from statuspage.core.vocabulary import ComponentStatus


@dataclass(frozen=True)
class Standing:
    failures: int = 0  # failed runs in a row
    successes: int = 0  # passed runs in a row
    verdict: ComponentStatus | None = None  # what the probe claims for its component; None: nothing


def advance(
    standing: Standing, passed: bool, *, claim: ComponentStatus, failure_threshold: int, success_threshold: int
) -> Standing:
    """The standing after one more run."""
    if passed:
        successes = standing.successes + 1
        verdict = None if standing.verdict is not None and successes >= success_threshold else standing.verdict
        return Standing(0, successes, verdict)
    failures = standing.failures + 1
    verdict = claim if failures >= failure_threshold else standing.verdict
    return Standing(failures, 0, verdict)


def claim_for(failed_placeholders: Sequence[set[str]], errored: bool, failing_status: ComponentStatus) -> ComponentStatus:
    """Which state a failed run claims: slow but working is degraded performance; anything else,
    including no answer at all, is the probe's failing status."""
    if errored or not failed_placeholders:
        return failing_status
    only_slow = all(needed == {"RESPONSE_TIME"} for needed in failed_placeholders)
    if only_slow:
        return min(failing_status, ComponentStatus.DEGRADED_PERFORMANCE, key=lambda status: status.severity)
    return failing_status
