"""SPEC §9: CLI commands print JSON a script can use."""
from __future__ import annotations

import json


def _run(app, *args: str):  # noqa: ANN001, ANN202
    result = app.test_cli_runner().invoke(args=list(args))
    return result


def test_org_create_prints_a_working_key(app, client):
    result = _run(app, "org", "create", "Cli Org")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["organization_id"].startswith("org_")
    assert data["api_key"].startswith("cpn_live_")
    resp = client.get("/api/v1/assistants/", headers={"X-API-Key": data["api_key"]})
    assert resp.status_code == 200


def test_key_create_for_org_and_platform(app):
    org = json.loads(_run(app, "org", "create", "K").output)
    key = json.loads(_run(app, "key", "create", "--org", org["organization_id"],
                          "--name", "ci").output)
    assert key["id"].startswith("key_") and key["api_key"].startswith("cpn_live_")
    platform = json.loads(_run(app, "key", "create", "--platform").output)
    assert platform["platform"] is True and platform["organization_id"] is None
    bad = _run(app, "key", "create")
    assert bad.exit_code != 0
    missing = _run(app, "key", "create", "--org", "org_nope")
    assert missing.exit_code == 1


def test_user_create_and_validation(app):
    org = json.loads(_run(app, "org", "create", "U").output)
    ok = _run(app, "user", "create", "--org", org["organization_id"], "--email",
              "Ops@Example.com", "--password", "long-enough-pw", "--role", "admin")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["email"] == "ops@example.com"
    dup = _run(app, "user", "create", "--org", org["organization_id"], "--email",
               "ops@example.com", "--password", "long-enough-pw")
    assert dup.exit_code == 1
    short = _run(app, "user", "create", "--org", org["organization_id"], "--email",
                 "x@example.com", "--password", "short")
    assert short.exit_code == 1


def test_seed_demo_is_idempotent(app):
    first = json.loads(_run(app, "seed-demo").output)
    second = json.loads(_run(app, "seed-demo").output)
    assert first["organization_id"] == second["organization_id"]
    assert first["console"]["email"] == "admin@demo.companin.io"


def test_org_languages_and_embedding_model_commands(app, run_jobs):
    org = json.loads(_run(app, "org", "create", "Lingue").output)["organization_id"]
    result = _run(app, "org", "set-languages", org, "it-IT,en")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["languages"] == ["it", "en"]
    bad = _run(app, "org", "set-languages", org, "klingon")
    assert bad.exit_code == 1 and "languages" in bad.output
    refused = _run(app, "knowledge", "reembed", org, "--model", "no-such-model")
    assert refused.exit_code == 1 and "model" in refused.output
    queued = _run(app, "knowledge", "reembed", org, "--model", "all-MiniLM-L6-v2")
    assert queued.exit_code == 0, queued.output
    run_jobs()
    with app.app_context():
        from extensions import db
        from models.orgs import Organization

        assert db.session.get(Organization, org).embedding_model == "all-MiniLM-L6-v2"
    moved = json.loads(_run(app, "knowledge", "migrate-model").output)
    assert moved["queued"] == [{"organization_id": org, "job_id": moved["queued"][0]["job_id"]}]
    run_jobs()
    with app.app_context():
        from extensions import db
        from models.orgs import Organization

        assert db.session.get(Organization, org).embedding_model == "multilingual-e5-small"
