"""What every area stands on: settings, the clock, identities and roles, and storage (the only place with SQL).

Nothing in core imports an area or a web framework.
"""
