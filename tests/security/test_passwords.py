"""Passwords: common ones refused everywhere one is chosen; staff need at least 12 characters."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import select

from commerce.models import User
from commerce.passwords import password_problem


@pytest.mark.parametrize("password", ["password1234", "azertyuiop123", "iloveyou2026",
                                      "qwertyuiopasdf", "111111111111"])
def test_common_passwords_are_refused_for_everyone(app, password):
    assert password_problem(password, staff=False) is not None
    assert password_problem(password, staff=True) is not None


def test_staff_need_twelve_characters_buyers_ten(app):
    strong_eleven = "gX9!vq2#Lm4"
    assert password_problem(strong_eleven, staff=False) is None
    assert "12" in password_problem(strong_eleven, staff=True)
    assert "10" in password_problem("gX9!vq2#L", staff=False)


def test_a_password_made_of_the_persons_own_name_is_refused(app):
    assert password_problem("camillemartin", staff=False,
                            user_inputs=("camille.martin@example.com", "Camille Martin"))


def test_a_reseller_login_with_a_weak_password_is_refused_on_the_command_line(runner, make_partner,
                                                                            db):
    make_partner(slug="reseau")
    result = runner.invoke(args=["resellers", "create", "--partner", "reseau", "--name", "Dupont",
                                 "--email", "a@dupont.example", "--password", "dupont2026"])
    assert result.exit_code != 0 and "12" in result.output
    assert db.session.scalar(select(User).where(User.email == "a@dupont.example")) is None


def test_an_operator_is_created_with_a_strong_password_and_a_confirmed_second_factor(runner, db):
    weak = runner.invoke(args=["operators", "create", "op@comptoir.example", "--password-stdin",
                               "--code", "000000"], input="password1234\n")
    assert weak.exit_code != 0 and "password refused" in weak.output
    wrong_code = runner.invoke(args=["operators", "create", "op@comptoir.example",
                                     "--password-stdin", "--code", "000000"],
                               input="a long operator passphrase\n")
    assert wrong_code.exit_code != 0 and "does not match" in wrong_code.output
    assert db.session.scalar(select(User)) is None
    # The secret is shown once; the test reads it from the output, as the operator's app would.
    result = runner.invoke(args=["operators", "create", "op@comptoir.example", "--password-stdin"],
                           input="a long operator passphrase\n" + "\n")
    secret = result.output.split("secret: ", 1)[1].split("\n", 1)[0].replace(" ", "")
    result = runner.invoke(args=["operators", "create", "op@comptoir.example", "--password-stdin",
                                 "--code", pyotp.TOTP(secret).now()],
                           input="a long operator passphrase\n")
    assert result.exit_code != 0  # a fresh secret each time: the old code does not fit


def test_an_operator_created_on_the_command_line_signs_in_with_its_code(runner, client, db,
                                                                        monkeypatch):
    from accounts import totp

    monkeypatch.setattr(totp, "new_secret", lambda: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    code = pyotp.TOTP("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").now()
    result = runner.invoke(args=["operators", "create", "op@comptoir.example", "--password-stdin",
                                 "--code", code], input="a long operator passphrase\n")
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User))
    assert (user.role, user.email_verified) == ("operator", True)
    assert user.totp_secret and "JBSWY3DP" not in user.totp_secret
