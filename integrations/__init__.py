"""Connectors to accounting systems: the interface every one implements (`base`), the payloads of invoice
actions (`payloads`), the pre-booking rights check (`rights`), and one package per system (`exact_online`,
`twinfield`, `visma_net`).

Nothing here imports `statuspage` or a web framework: the service uses these, never the other way round.
"""
