"""Incidents, maintenance and overrides as audited operations, and telling subscribers about them
(webhooks and e-mail through an outbox of deliveries); the operators' JSON API.
"""
