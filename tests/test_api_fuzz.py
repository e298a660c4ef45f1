"""Generated input to every /api/v1 route, with each role's token and none, never answers 500 (issue 11).

Hypothesis draws a route and a method from the app's own route table (so a new route is covered without
editing this file), fills its path parameters (ids up to and beyond 64 bits, odd text), adds query
parameters the API knows, and sends a JSON body of any shape (nested, empty, wrong types, control
characters). Whatever it is, the answer is below 500.
"""

import re
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROLES = ["viewer", "operator", "admin", "client", None]
QUERY_NAMES = ["limit", "after_id", "before_id", "state", "environment", "administration", "integration"]
PARAMETER = re.compile(r"\{(\w+):(\w+)\}")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
path_text = st.text(alphabet=string.ascii_letters + string.digits + "-_.~%", min_size=1, max_size=20)
path_int = st.integers(min_value=-(2**70), max_value=2**70)


def api_routes(app) -> list[tuple[str, str]]:
    return sorted({(method, route.path) for route in app.routes if route.path.startswith("/api/v1")
                   for method in getattr(route, "methods", ()) if method not in ("HEAD", "OPTIONS")})


@pytest.fixture
def routes(client):
    found = api_routes(client.app)
    assert len(found) > 30  # the whole operator, action and probe API
    return found


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_no_api_route_answers_500_whatever_it_is_sent(client, tokens, routes, data) -> None:
    method, template = data.draw(st.sampled_from(routes), label="route")
    role = data.draw(st.sampled_from(ROLES), label="role")

    def fill(match: re.Match) -> str:
        kind = match.group(2)
        return str(data.draw(path_int if kind == "int" else path_text, label=match.group(1)))

    path = PARAMETER.sub(fill, template)
    query = data.draw(st.dictionaries(st.sampled_from(QUERY_NAMES),
                                      st.one_of(path_int.map(str), st.text(max_size=10)), max_size=2), label="query")
    body = data.draw(json_values, label="body") if method in ("POST", "PUT", "PATCH") else None
    headers = dict(tokens[role]) if role else {}
    response = client.request(method, path, params=query, json=body, headers=headers)
    assert response.status_code < 500, (method, path, query, body, role, response.text)
