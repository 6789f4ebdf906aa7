"""The OpenAPI schema documents every field, the 400 answers and full examples; /docs works offline
(issue 13.7 and 13.12)."""

from __future__ import annotations

import re

from serving.schemas import (
    ENROLL_EXAMPLE,
    FEEDBACK_EXAMPLE,
    SCORE_EXAMPLE,
    EnrollIn,
    FeedbackIn,
    ScoreIn,
)

FASTAPI_OWN = {"HTTPValidationError", "ValidationError"}


def _spec(api) -> dict:
    r = api.client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def test_every_body_route_documents_its_400(api):
    spec = _spec(api)
    body_ops = [(path, method, op) for path, item in spec["paths"].items() for method, op in item.items()
                if "requestBody" in op]
    assert {(p, m) for p, m, _ in body_ops} == {("/v1/score", "post"), ("/v1/users/{user_id}/enroll", "post"),
                                               ("/v1/feedback", "post")}
    for path, method, op in body_ops:
        answer = op["responses"].get("400")
        assert answer, (path, method)
        assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
        assert "UTF-8" in answer["description"] and "twice" in answer["description"]


def test_the_documented_400s_are_what_the_body_routes_answer(api):
    bodies = [b'{"user_id": "\xff\xfe"}', ("[" * 100_000 + "]" * 100_000).encode(), b'{"a": 1, "a": 2}']
    for path in ("/v1/score", "/v1/users/someone/enroll", "/v1/feedback"):
        for raw in bodies:
            r = api.client.post(path, content=raw, headers={**api.headers_a, "content-type": "application/json"})
            assert r.status_code == 400 and set(r.json()) == {"detail"}, (path, r.text)


def _properties(schema: dict):
    yield from schema.get("properties", {}).items()


def test_every_request_and_response_field_is_described(api):
    schemas = _spec(api)["components"]["schemas"]
    missing = [f"{model}.{field}" for model, schema in schemas.items() if model not in FASTAPI_OWN
               for field, prop in _properties(schema) if not prop.get("description")]
    assert not missing, missing
    key_class = schemas["KeyEvent"]["properties"]["key_class"]["description"]
    assert "0 letter" in key_class and "7 masked" in key_class
    for model in ("Session", "KeyEvent", "PointerEvent", "TouchEvent", "ScoreIn", "ScoreOut", "UserOut"):
        assert schemas[model].get("description"), model  # the model's docstring


def test_score_and_enroll_carry_a_full_valid_example(api):
    spec = _spec(api)
    for path, model, example in (("/v1/score", ScoreIn, SCORE_EXAMPLE),
                                 ("/v1/users/{user_id}/enroll", EnrollIn, ENROLL_EXAMPLE)):
        content = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        shown = next(iter(content["examples"].values()))["value"]
        assert shown == example
        model.model_validate(shown)  # valid under the strict contract
        session = shown["session"]
        assert session["schema_version"] == 2 and len(session["keystrokes"]) >= 10
        assert all({"t", "type", "press", "key_class"} <= set(e) for e in session["keystrokes"])
        component = spec["components"]["schemas"][model.__name__]
        assert component["examples"] == [example]


def test_feedback_carries_a_valid_example_and_documents_its_answers(api):
    spec = _spec(api)
    op = spec["paths"]["/v1/feedback"]["post"]
    shown = next(iter(op["requestBody"]["content"]["application/json"]["examples"].values()))["value"]
    assert shown == FEEDBACK_EXAMPLE and spec["components"]["schemas"]["FeedbackIn"]["examples"] == [FEEDBACK_EXAMPLE]
    FeedbackIn.model_validate(shown)
    assert {"200", "400", "401", "404", "409", "413", "422"} <= set(op["responses"])
    assert {"200", "401", "422"} <= set(spec["paths"]["/v1/feedback/metrics"]["get"]["responses"])
    r = api.client.post("/v1/feedback", json=FEEDBACK_EXAMPLE, headers=api.headers_a)
    assert r.status_code == 404, r.text  # valid; no session with that id was scored in this tenant


def test_the_examples_are_accepted_by_the_api(api):
    r = api.client.post("/v1/users/example-user/enroll", json=ENROLL_EXAMPLE, headers=api.headers_a)
    assert r.status_code == 200, r.text  # human enough for enrollment's bot and data checks
    r = api.client.post("/v1/score", json=SCORE_EXAMPLE, headers=api.headers_a)
    assert r.status_code == 404, r.text  # valid; its user is not enrolled in this tenant


def test_docs_page_uses_only_local_assets(api):
    r = api.client.get("/docs")
    assert r.status_code == 200 and "SwaggerUIBundle" in r.text
    assert not re.search(r"https?://|//cdn|jsdelivr|unpkg", r.text), r.text
    assert "validatorUrl" in r.text  # no badge fetched from validator.swagger.io
    assets = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    for url in assets:
        asset = api.client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 500, url
    assert api.client.get("/openapi.json").status_code == 200
    assert api.client.get("/redoc").status_code == 404  # ReDoc only loads from a CDN: off
