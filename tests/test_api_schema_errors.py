"""The OpenAPI schema lists the errors each /api/v1 route answers (issue 11)."""


def test_the_schema_lists_the_error_answers_of_each_api_route(client) -> None:
    paths = client.get("/api/schema/openapi.json").json()["paths"]
    api = {(path, method): sorted(operation["responses"]) for path, methods in paths.items()
           if path.startswith("/api/v1") for method, operation in methods.items()}
    assert api[("/api/v1/actions/{action_id}", "get")] == ["200", "400", "401", "403", "404", "405"]
    assert api[("/api/v1/me", "get")] == ["200", "401", "405"]
    assert api[("/api/v1/subscribers", "post")] == ["201", "400", "401", "403", "405", "409"]
    assert all({"401", "405"} <= set(codes) for codes in api.values())
    error = client.get("/api/schema/openapi.json").json()["components"]["schemas"]["ErrorBody"]
    assert set(error["properties"]) == {"status_code", "detail", "extra"}
