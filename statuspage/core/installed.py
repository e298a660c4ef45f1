"""The integrations installed in this service: the one place that names them.

Every other module looks an integration up by key in `INSTALLED` (or in the registry the app was given).
Registering another accounting system is one more entry here; nothing else in `statuspage/` changes.
"""

from __future__ import annotations

from integrations.exact_online.integration import EXACT_ONLINE
from integrations.registry import Registry
from integrations.twinfield.integration import TWINFIELD
from integrations.visma_net.integration import VISMA_NET

DEFAULT_INTEGRATION = EXACT_ONLINE.key
"""What an `[[environments]]` entry without `integration` connects to, so that older configurations keep working."""

INSTALLED = Registry([EXACT_ONLINE, TWINFIELD, VISMA_NET])
