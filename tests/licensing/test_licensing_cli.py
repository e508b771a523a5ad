"""Commands: key management and offline verification from a saved key set."""

from __future__ import annotations

import json
from pathlib import Path

from extensions import db
from licensing.keys import list_signing_keys
from licensing.models import KeyStatus, RevocationReason
from licensing.services import issue_licence, revoke_licence


def test_new_key_then_list_keys(runner) -> None:  # type: ignore[no-untyped-def]
    created = runner.invoke(args=["licensing", "new-key"])
    assert created.exit_code == 0, created.output
    (info,) = list_signing_keys()
    assert info.status is KeyStatus.ACTIVE and info.kid in created.output
    listed = runner.invoke(args=["licensing", "list-keys"])
    assert info.kid in listed.output and "active" in listed.output
    pending = runner.invoke(args=["licensing", "new-key"])
    assert "pending" in pending.output


def test_rotate_and_revoke_keys(runner, signing_key) -> None:  # type: ignore[no-untyped-def]
    rotated = runner.invoke(args=["licensing", "rotate-key"])
    assert rotated.exit_code == 0, rotated.output
    # A kid is base64url and may begin with "-": options first, then "--" before the kid.
    revoked = runner.invoke(
        args=["licensing", "revoke-key", "--reason", "compromise", "--", signing_key.kid]
    )
    assert revoked.exit_code == 0, revoked.output
    statuses = {info.kid: info.status for info in list_signing_keys()}
    assert statuses[signing_key.kid] is KeyStatus.REVOKED
    unknown = runner.invoke(args=["licensing", "revoke-key", "nope", "--reason", "compromise"])
    assert unknown.exit_code != 0 and "no signing key" in unknown.output
    dashed = runner.invoke(args=["licensing", "revoke-key", "-Xy_kid", "--reason", "compromise"])
    assert "no signing key" in dashed.output  # read as a key id, not as an unknown option
    bad_reason = runner.invoke(
        args=["licensing", "revoke-key", "--reason", "x", "--", signing_key.kid]
    )
    assert bad_reason.exit_code == 2


def test_verify_offline_from_saved_key_set(  # type: ignore[no-untyped-def]
    runner, signing_key, make_request, tmp_path: Path
) -> None:
    issued = issue_licence(make_request())
    db.session.commit()
    keys = tmp_path / "licence-keys.json"
    exported = runner.invoke(args=["licensing", "export-keys", str(keys)])
    assert exported.exit_code == 0, exported.output
    ok = runner.invoke(args=["licence", "verify", issued.token, "--keys", str(keys)])
    assert ok.exit_code == 0, ok.output
    assert "status: valid" in ok.output and issued.number in ok.output
    assert "reason: ok" in ok.output
    broken = issued.token[:-3] + ("AAA" if not issued.token.endswith("AAA") else "BAA")
    ko = runner.invoke(args=["licence", "verify", broken, "--keys", str(keys), "--json"])
    assert ko.exit_code == 1
    assert json.loads(ko.output)["status"] == "invalid"


def test_verify_offline_with_saved_revocations(  # type: ignore[no-untyped-def]
    runner, client, signing_key, make_request, tmp_path: Path
) -> None:
    issued = issue_licence(make_request())
    db.session.commit()
    revoke_licence(issued.id, RevocationReason.REFUND, "test")
    db.session.commit()
    keys, revoked = tmp_path / "keys.json", tmp_path / "revoked.json"
    keys.write_bytes(client.get("/.well-known/comptoir/licence-keys.json").get_data())
    revoked.write_bytes(client.get("/api/v1/licences/revoked").get_data())
    result = runner.invoke(
        args=["licence", "verify", issued.token, "--keys", str(keys), "--revoked", str(revoked)]
    )
    assert result.exit_code == 1
    assert "status: revoked" in result.output and "licence_revoked" in result.output
    keys.write_text("{}")
    unreadable = runner.invoke(args=["licence", "verify", issued.token, "--keys", str(keys)])
    assert unreadable.exit_code == 1 and "cannot read" in unreadable.output


def test_verify_online_and_revoke_by_number(  # type: ignore[no-untyped-def]
    runner, signing_key, make_request
) -> None:
    issued = issue_licence(make_request())
    db.session.commit()
    assert runner.invoke(args=["licence", "verify", issued.token]).exit_code == 0
    revoked = runner.invoke(
        args=["licence", "revoke", issued.number, "--reason", RevocationReason.REPLACEMENT.value]
    )
    assert revoked.exit_code == 0, revoked.output
    assert "replacement" in revoked.output
    again = runner.invoke(args=["licence", "verify", issued.token])
    assert again.exit_code == 1 and "licence_revoked" in again.output


def test_the_comptoir_command_verifies_offline_without_building_the_app(  # type: ignore[no-untyped-def]
    runner, signing_key, make_request, tmp_path: Path
) -> None:
    """`comptoir licence verify --keys` runs the small verifier: an environment that could not
    even build the app (production with no settings) verifies, and neither Flask nor the shop
    is imported."""
    import os
    import subprocess
    import sys

    issued = issue_licence(make_request())
    db.session.commit()
    keys = tmp_path / "licence-keys.json"
    assert runner.invoke(args=["licensing", "export-keys", str(keys)]).exit_code == 0
    command = Path(sys.executable).parent / "comptoir"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPTOIR_")}
    env["COMPTOIR_ENV"] = "production"  # the app would refuse to start here
    done = subprocess.run([str(command), "licence", "verify", issued.token, "--keys", str(keys)],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "status: valid" in done.stdout and issued.number in done.stdout
    keys.write_text("{}")
    refused = subprocess.run([str(command), "licence", "verify", issued.token, "--keys",
                              str(keys)], capture_output=True, text=True, env=env, timeout=60,
                             check=False)
    assert refused.returncode == 1 and "cannot read the saved documents" in refused.stderr
    probe = ("import sys, comptoir_entry; sys.argv = ['comptoir', 'licence', 'verify', "
             f"{issued.token!r}, '--keys', {str(keys)!r}]\n"
             "try:\n    comptoir_entry.main()\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ('flask', 'sqlalchemy', 'app') if m in sys.modules))")
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              env=env, timeout=60, check=False, cwd=Path(__file__).parents[2])
    assert imported.stdout.strip().splitlines()[-1] == "[]", imported.stdout + imported.stderr
