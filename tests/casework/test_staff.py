"""Staff accounts: argon2 hashes, throttling, TOTP, lock and delete (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest

from casework.privacy import FieldCipher
from casework.staff import (
    USER_FAILURES_ALLOWED,
    AccountError,
    SignInRefused,
    active_staff,
    check_password,
    check_totp,
    create_account,
    delete_account,
    lock_account,
    unlock_account,
)
from tests.casework.conftest import Database
from tests.casework.factories import NOW

OFFICES = {"oss-pe", "oss-bo", "fallback"}
PASSWORD = "a long enough passphrase"


def make(database: Database, cipher: FieldCipher, name: str = "ana", **options: object) -> str | None:
    with database.session() as session:
        _staff, secret = create_account(session, username=name, office_id=options.pop("office", "oss-pe"),
                                        role=options.pop("role", "caseworker"), password=PASSWORD, now=NOW,
                                        cipher=cipher, known_offices=OFFICES, **options)
    return secret


def sign_in(database: Database, name: str, password: str = PASSWORD, *, at=NOW, client: str = "10.0.0.1"):
    with database.session() as session:
        try:
            return check_password(session, username=name, password=password, client=client, now=at)
        except SignInRefused as refused:
            return refused.reason


def test_passwords_are_stored_as_argon2id_hashes(database: Database, cipher: FieldCipher) -> None:
    make(database, cipher)
    stored = database.rows("SELECT password_hash FROM staff_accounts")[0]["password_hash"]
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    staff, needs_totp = sign_in(database, "ANA ")  # names are case- and space-insensitive
    assert (staff.username, staff.office_id, needs_totp) == ("ana", "oss-pe", False)
    assert sign_in(database, "ana", "a wrong passphrase") == "wrong_password"


@pytest.mark.parametrize(("change", "problem"), [
    ({"username": "A"}, "user names"), ({"role": "admin"}, "role"), ({"office_id": "oss-xx"}, "unknown office"),
    ({"password": "short"}, "at least 12"),
])
def test_bad_accounts_are_refused(database: Database, cipher: FieldCipher, change: dict, problem: str) -> None:
    values = {"username": "ana", "office_id": "oss-pe", "role": "caseworker", "password": PASSWORD, **change}
    with database.session() as session, pytest.raises(AccountError, match=problem):
        create_account(session, now=NOW, cipher=cipher, known_offices=OFFICES, **values)


def test_throttling_counts_per_user_within_the_window(database: Database, cipher: FieldCipher) -> None:
    make(database, cipher)
    for attempt in range(USER_FAILURES_ALLOWED):
        assert sign_in(database, "ana", "nope nope nope", at=NOW + timedelta(minutes=attempt)) == "wrong_password"
    assert sign_in(database, "ana", at=NOW + timedelta(minutes=5)) == "throttled"
    # Unknown names are throttled the same way, so the answer says nothing about who exists.
    for _ in range(USER_FAILURES_ALLOWED):
        assert sign_in(database, "nobody", "whatever it is") == "unknown_user"
    assert sign_in(database, "nobody", "whatever it is") == "throttled"
    staff, _ = sign_in(database, "ana", at=NOW + timedelta(minutes=4 + 16))
    assert staff.username == "ana"


def test_throttling_counts_per_client_address_too(database: Database, cipher: FieldCipher) -> None:
    make(database, cipher, "victim")
    for index in range(20):  # one address trying many names (password spraying)
        assert sign_in(database, f"guess{index:02d}", "wrong wrong wrong", client="10.9.9.9") == "unknown_user"
    assert sign_in(database, "victim", client="10.9.9.9") == "throttled"
    staff, _ = sign_in(database, "victim", client="10.1.1.1")
    assert staff.username == "victim"


def test_coordinators_always_get_a_second_factor(database: Database, cipher: FieldCipher) -> None:
    secret = make(database, cipher, "coord", office="fallback", role="coordinator")
    assert secret
    stored = database.rows("SELECT totp_secret_encrypted FROM staff_accounts")[0]["totp_secret_encrypted"]
    assert secret not in stored
    staff, needs_totp = sign_in(database, "coord")
    assert needs_totp
    assert database.rows("SELECT last_login_at FROM staff_accounts")[0]["last_login_at"] is None
    with database.session() as session, pytest.raises(SignInRefused):
        check_totp(session, staff_id=staff.id, code="123456", client="x", now=NOW, cipher=cipher)
    with database.session() as session:
        signed = check_totp(session, staff_id=staff.id, code=pyotp.TOTP(secret).at(NOW), client="x", now=NOW,
                            cipher=cipher)
    assert signed.coordinator


def test_locked_and_deleted_accounts_are_refused_and_lose_their_sessions(database: Database, cipher: FieldCipher) -> None:
    make(database, cipher, "ana")
    make(database, cipher, "bea")
    staff, _ = sign_in(database, "ana")
    with database.session() as session:
        lock_account(session, username="ana", now=NOW)
        delete_account(session, username="bea", now=NOW)
    assert sign_in(database, "ana") == "locked"
    assert sign_in(database, "bea") in ("wrong_password", "deleted")  # deleting also drops the password
    with database.session() as session:
        assert active_staff(session, staff_id=staff.id) is None
        unlock_account(session, username="ana", now=NOW)
    assert sign_in(database, "ana")[0].username == "ana"
    with database.session() as session, pytest.raises(AccountError, match="taken"):
        create_account(session, username="bea", office_id="oss-pe", role="caseworker", password=PASSWORD, now=NOW,
                       cipher=cipher, known_offices=OFFICES)


def test_a_totp_code_is_accepted_once(database: Database, cipher: FieldCipher) -> None:
    secret = make(database, cipher, "coord", office="fallback", role="coordinator")
    code = pyotp.TOTP(secret).at(NOW)
    staff, _ = sign_in(database, "coord")
    with database.session() as session:
        check_totp(session, staff_id=staff.id, code=code, client="x", now=NOW, cipher=cipher)
    with database.session() as session, pytest.raises(SignInRefused, match="totp_reused"):
        check_totp(session, staff_id=staff.id, code=code, client="x", now=NOW + timedelta(seconds=20), cipher=cipher)
    later = NOW + timedelta(seconds=60)
    with database.session() as session:
        check_totp(session, staff_id=staff.id, code=pyotp.TOTP(secret).at(later), client="x", now=later, cipher=cipher)
