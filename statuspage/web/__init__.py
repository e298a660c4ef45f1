"""The web plumbing every area's controllers share: authentication and role guards, turning a refused
operation into an HTTP answer, the Jinja2 environment. No domain rules live here.
"""
