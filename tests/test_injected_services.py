"""Handlers are given their services by Litestar's dependency injection (`statuspage.web.dependencies`): the
services are no input of the caller's, so the OpenAPI schema lists none of them (issue 9)."""

SERVICES = {"store", "settings", "clock", "pages", "dispatcher", "links", "prober", "sign_in_limiter",
            "subscribe_limiter", "oauth_state_secret", "performer", "console"}


def test_the_schema_lists_no_injected_service_as_a_parameter(client) -> None:
    paths = client.get("/api/schema/openapi.json").json()["paths"]
    listed = {(path, method, parameter["name"]) for path, methods in paths.items()
              for method, operation in methods.items() if isinstance(operation, dict)
              for parameter in operation.get("parameters", [])}
    assert listed, "the schema lists the routes' real parameters (paths, queries)"
    assert {(path, method, name) for path, method, name in listed if name in SERVICES} == set()


def test_routes_whose_only_parameters_are_services_take_no_input(client) -> None:
    """Routes that take nothing but services answer no 400, and the schema says so."""
    paths = client.get("/api/schema/openapi.json").json()["paths"]
    for path in ("/api/v1/probes", "/api/v1/budgets", "/api/v1/incidents", "/api/v1/connections"):
        operation = paths[path]["get"]
        assert "parameters" not in operation, path
        assert "400" not in operation["responses"], path
