"""The public status page: status rules, uptime, the page snapshot, the hosted-page v2 documents, the
feeds, languages, and the public routes that serve them from memory.
"""
