"""Assembly: settings, secrets, health, migrations, commands."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from app import create_app
from config import ConfigurationError
from extensions import db


def test_healthz_says_the_database_is_reachable(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_reports_an_unreachable_database(tmp_path):
    app = create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": "x",
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        }
    )
    with app.app_context():
        response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"


def test_production_refuses_to_start_without_a_secret_and_names_it(tmp_path):
    with pytest.raises(ConfigurationError, match="COMPTOIR_SECRET_KEY"):
        create_app({"ENV": "production", "INSTANCE_PATH": str(tmp_path)})


def test_a_command_refused_by_production_prints_the_refusal_not_a_traceback(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPTOIR_")}
    env.update(COMPTOIR_ENV="production", COMPTOIR_INSTANCE_PATH=str(tmp_path))
    comptoir = Path(sys.executable).with_name("comptoir")
    done = subprocess.run([str(comptoir), "db", "upgrade"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("Error: production refuses to start:")
    assert "missing setting COMPTOIR_SECRET_KEY" in done.stderr
    assert "Traceback" not in done.stderr and not done.stdout


def test_development_generates_its_secrets_once_into_the_instance_folder(tmp_path, caplog):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPTOIR_")}
    first = create_app({"INSTANCE_PATH": str(tmp_path), "ENV": "development"})
    stored = json.loads((tmp_path / "secrets.json").read_text())
    assert stored["SECRET_KEY"] == first.config["SECRET_KEY"]
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0
    assert "generated" in caplog.text and stored["SECRET_KEY"] not in caplog.text
    second = create_app({"INSTANCE_PATH": str(tmp_path), "ENV": "development"})
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]
    assert env == {k: v for k, v in os.environ.items() if not k.startswith("COMPTOIR_")}


def test_settings_come_from_comptoir_environment_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPTOIR_PLATFORM_HOSTS", "admin.comptoir.example")
    app = create_app({"ENV": "testing", "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path)})
    assert app.config["PLATFORM_HOSTS"] == "admin.comptoir.example"


@pytest.mark.parametrize("value", ["abc", "0", "-1", "999"])
def test_a_bad_timeout_setting_is_refused_naming_it(tmp_path, monkeypatch, value):
    monkeypatch.setenv("COMPTOIR_WEBHOOK_TIMEOUT", value)
    with pytest.raises(ConfigurationError, match="COMPTOIR_WEBHOOK_TIMEOUT must be a number"):
        create_app({"ENV": "testing", "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path)})


def _migrate_and_compare(url: str, tmp_path: Path) -> list:
    app = create_app(
        {"ENV": "testing", "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path), "DATABASE_URL": url}
    )
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata
            )
        db.engine.dispose()
    return diff


def test_migrations_upgrade_an_empty_sqlite_database_to_the_models(tmp_path):
    assert _migrate_and_compare(f"sqlite:///{tmp_path / 'm.db'}", tmp_path) == []


def test_migrations_upgrade_an_empty_postgres_database_to_the_models(
    tmp_path, database_url, postgres_only
):
    from support.database import scratch_postgres

    with scratch_postgres(database_url, "migrations") as url:
        assert _migrate_and_compare(url, tmp_path) == []


def test_demo_load_twice_changes_nothing(runner, db):
    from commerce.models import Partner, PartnerProduct, Product, User

    def counts() -> tuple[int, ...]:
        return tuple(db.session.query(m).count() for m in (Partner, Product, PartnerProduct, User))

    assert runner.invoke(args=["demo", "load"]).exit_code == 0
    first = counts()
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    assert counts() == first
    assert first[0] >= 4 and first[1] >= 14


def test_demo_credentials_json_has_the_documented_shape(runner):
    runner.invoke(args=["demo", "load", "--no-history"])
    result = runner.invoke(args=["demo-credentials", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) >= {"partners", "logins", "resellers"}
    kinds = {p["kind"] for p in data["partners"]}
    assert {"retail", "oem", "telecom", "direct"} <= kinds
    for partner in data["partners"]:
        assert set(partner) >= {"slug", "name", "kind", "host", "url", "api_key"}
        assert partner["url"].endswith(f"/p/{partner['slug']}/")
    assert all(p["api_key"].startswith("cpk_") for p in data["partners"])
    assert data["resellers"] and all(
        set(r) == {"code", "partner", "email", "password"} for r in data["resellers"]
    )
    assert set(data["logins"]) == {"buyer", "operator"}
    assert set(data["logins"]["buyer"]) == {"email", "password"}
    assert set(data["logins"]["operator"]) == {"email", "password", "totp_secret"}


def test_demo_logins_work(client, runner, form_token):
    runner.invoke(args=["demo", "load", "--no-history"])
    from demo import LOGINS

    token = form_token("/admin/login")
    response = client.post(
        "/admin/login",
        data={"csrf_token": token, **{k: LOGINS["operator"][k] for k in ("email", "password")}},
    )
    assert response.status_code == 302 and response.location.endswith("/admin/login/verify")
    code = runner.invoke(args=["users", "totp-code", LOGINS["operator"]["email"]]).output.strip()
    assert re.fullmatch(r"\d{6}", code), code
    response = client.post("/admin/login/verify",
                           data={"csrf_token": form_token("/admin/login/verify"), "code": code})
    assert response.status_code == 302 and response.location.endswith("/admin/")
    assert client.get("/admin/").status_code == 200
