"""SPEC §1 error format for every failure class."""
from __future__ import annotations


def _assert_error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.data
    assert resp.is_json
    body = resp.json["error"]
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], dict)
    return body


def test_malformed_json_is_400_invalid_json(tenant):
    resp = tenant.post("/api/v1/assistants/", data="{not json",
                       headers={"Content-Type": "application/json"})
    _assert_error(resp, 400, "invalid_json")


def test_validation_errors_list_each_field(tenant):
    resp = tenant.post("/api/v1/assistants/",
                       json={"name": "", "language": "not a tag!", "surprise": True})
    body = _assert_error(resp, 422, "validation_error")
    fields = body["details"]["fields"]
    assert set(fields) == {"name", "language", "surprise"}
    assert fields["surprise"] == ["Unknown field."]


def test_wrong_body_type_is_422(tenant):
    resp = tenant.post("/api/v1/assistants/", json=["a", "list"])
    _assert_error(resp, 422, "validation_error")


def test_unknown_route_is_json_404(tenant, client):
    _assert_error(tenant.get("/api/v1/does-not-exist"), 404, "not_found")
    _assert_error(client.get("/nothing-here"), 404, "not_found")


def test_wrong_method_is_json_405_with_allow(tenant):
    resp = tenant.put("/api/v1/assistants/")
    _assert_error(resp, 405, "method_not_allowed")
    assert "POST" in resp.headers["Allow"]


def test_non_json_content_type_is_415(tenant):
    resp = tenant.post("/api/v1/assistants/", data="name=x",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    _assert_error(resp, 415, "unsupported_media_type")


def test_enormous_json_body_is_413(tenant, app):
    big = "x" * (app.config["MAX_JSON_BYTES"] + 10)
    resp = tenant.post("/api/v1/assistants/", json={"name": "n", "instructions": big})
    assert resp.status_code == 413
    assert resp.json["error"]["code"] in {"body_too_large", "file_too_large"}


def test_internal_error_hides_traceback(tenant):
    from flask import Blueprint

    from factory import create_app

    bp = Blueprint("boom_test", __name__)

    @bp.get("/api/v1/_boom")
    def boom():  # noqa: ANN202
        raise RuntimeError("secret internals: password=hunter2")

    fresh = create_app({"TESTING": True})
    fresh.register_blueprint(bp)
    resp = fresh.test_client().get("/api/v1/_boom", headers=tenant.headers)
    body = _assert_error(resp, 500, "internal_error")
    assert "hunter2" not in resp.get_data(as_text=True)
    assert "Traceback" not in resp.get_data(as_text=True)
    assert body["details"] == {}


def test_every_response_has_a_request_id_and_echoes_a_valid_one(tenant):
    resp = tenant.get("/api/v1/assistants/", headers={"X-Request-ID": "trace-12345678"})
    assert resp.headers["X-Request-ID"] == "trace-12345678"
    resp = tenant.get("/api/v1/assistants/", headers={"X-Request-ID": "bad id <script>"})
    assert resp.headers["X-Request-ID"].startswith("req_")
