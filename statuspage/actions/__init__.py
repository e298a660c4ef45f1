"""Invoice actions: the outbox, the kill switch and replay, the dispatcher that carries actions out
through a connection, and the connections themselves; the actions API.
"""
