"""Connectors to accounting systems, one package each; they never import `statuspage`."""
