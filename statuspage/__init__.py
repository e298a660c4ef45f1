"""A status page and incident-control service for accounting integrations."""
