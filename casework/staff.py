"""Staff accounts of the console: creation, sign-in, throttling, TOTP, lock and delete.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile);
TOTP secrets are personal-grade secrets and stored encrypted with the FieldCipher.
Sign-in failures are counted per user name and per client address in a sliding window;
over the limit every attempt is refused, even with the right password, until the window
has passed, and the refusal looks the same whether or not the account exists.

Every function takes the caller's session and does not commit (the unit of work does).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from casework import audit
from casework.models import STAFF_ROLES, LoginFailure, StaffAccount
from casework.privacy import FieldCipher

USER_FAILURES_ALLOWED = 5  # per user name ...
IP_FAILURES_ALLOWED = 20  # ... and per client address ...
THROTTLE_WINDOW = timedelta(minutes=15)  # ... within this sliding window
MIN_PASSWORD_LENGTH = 12
TOTP_ISSUER = "OSS console"
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
_HASHER = PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so both paths cost the same.

    Made on first use, not at import: argon2 takes 64 MiB while hashing, and every process
    that imports the case-work core (the action server too) would pay it at start.
    """
    return _HASHER.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """The account cannot be created or changed as asked."""


class SignInRefused(Exception):
    """Wrong name or password, locked or deleted account, or throttled: one answer for all."""

    def __init__(self, reason: str) -> None:
        self.reason = reason  # for the audit trail and tests; the page says the same for every reason
        super().__init__(reason)


@dataclass(frozen=True)
class Staff:
    """The signed-in staff member, as the console and the query functions see them."""

    id: int
    username: str
    office_id: str
    role: str
    language: str | None = None

    @property
    def coordinator(self) -> bool:
        return self.role == "coordinator"

    @property
    def actor(self) -> str:
        return f"staff:{self.username}"


def _staff(account: StaffAccount) -> Staff:
    return Staff(id=account.id, username=account.username, office_id=account.office_id, role=account.role,
                 language=account.language)


def normalise_username(username: str) -> str:
    return username.strip().lower()


def create_account(
    session: Session, *, username: str, office_id: str, role: str, password: str, now: datetime,
    cipher: FieldCipher, known_offices: set[str], totp: bool = False, language: str | None = None,
) -> tuple[Staff, str | None]:
    """Create an account; returns it and the TOTP secret to enrol (None without TOTP).

    Coordinators see every office, so their accounts always get a second factor.
    """
    name = normalise_username(username)
    if not _USERNAME.match(name):
        raise AccountError("user names are 3-64 characters: lower-case letters, digits, '.', '_' or '-'")
    if role not in STAFF_ROLES:
        raise AccountError(f"role must be one of {', '.join(STAFF_ROLES)}")
    if office_id not in known_offices:
        raise AccountError(f"unknown office {office_id!r}; known: {', '.join(sorted(known_offices))}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"passwords have at least {MIN_PASSWORD_LENGTH} characters")
    secret = pyotp.random_base32() if (totp or role == "coordinator") else None
    account = StaffAccount(
        username=name, office_id=office_id, role=role, password_hash=_HASHER.hash(password),
        totp_secret_encrypted=cipher.encrypt_text(secret) if secret else None, language=language, created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(account)
            session.flush()
    except IntegrityError:
        raise AccountError(f"the user name {name!r} is taken (deleted accounts keep their name)") from None
    audit.record(session, actor="operator", action="staff_created", now=now,
                 details={"staff_id": account.id, "office_id": office_id, "role": role, "totp": bool(secret)})
    return _staff(account), secret


def totp_uri(*, username: str, secret: str) -> str:
    """The otpauth:// URI an authenticator app scans to enrol."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)


def _find(session: Session, username: str) -> StaffAccount | None:
    return session.execute(
        select(StaffAccount).where(StaffAccount.username == normalise_username(username))
    ).scalar_one_or_none()


def _failures(session: Session, key: str, now: datetime) -> int:
    return session.execute(
        select(func.count()).select_from(LoginFailure).where(LoginFailure.key == key, LoginFailure.at > now - THROTTLE_WINDOW)
    ).scalar_one()


def is_throttled(session: Session, *, username: str, client: str, now: datetime) -> bool:
    return (
        _failures(session, f"user:{normalise_username(username)}"[:128], now) >= USER_FAILURES_ALLOWED
        or _failures(session, f"ip:{client}"[:128], now) >= IP_FAILURES_ALLOWED
    )


def _fail(session: Session, *, username: str, client: str, now: datetime, reason: str) -> SignInRefused:
    session.add_all([
        LoginFailure(key=f"user:{normalise_username(username)}"[:128], at=now),
        LoginFailure(key=f"ip:{client}"[:128], at=now),
    ])
    account = _find(session, username)
    audit.record(session, actor=f"staff:{account.username}" if account else "anonymous", action="sign_in_refused",
                 now=now, details={"reason": reason})
    # Old failures are useless after the window: keep the table small.
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - 2 * THROTTLE_WINDOW))
    session.flush()
    return SignInRefused(reason)


def check_password(session: Session, *, username: str, password: str, client: str, now: datetime) -> tuple[Staff, bool]:
    """First step of sign-in; returns the staff member and whether a TOTP code must follow.

    Raises SignInRefused. The failure is recorded in the caller's unit of work, so the
    caller must commit even when this raises (the console does).
    """
    if is_throttled(session, username=username, client=client, now=now):
        raise _fail(session, username=username, client=client, now=now, reason="throttled")
    account = _find(session, username)
    if account is None:
        _verify(_dummy_hash(), password)
        raise _fail(session, username=username, client=client, now=now, reason="unknown_user")
    if not _verify(account.password_hash, password):
        raise _fail(session, username=username, client=client, now=now, reason="wrong_password")
    if account.deleted_at is not None:
        raise _fail(session, username=username, client=client, now=now, reason="deleted")
    if account.locked_at is not None:
        raise _fail(session, username=username, client=client, now=now, reason="locked")
    needs_totp = account.totp_secret_encrypted is not None or account.role == "coordinator"
    if not needs_totp:
        _signed_in(session, account, now)
    return _staff(account), needs_totp


def check_totp(session: Session, *, staff_id: int, code: str, client: str, now: datetime, cipher: FieldCipher) -> Staff:
    """Second step: the code of the account's authenticator (one step of clock drift allowed)."""
    account = session.get(StaffAccount, staff_id)
    if account is None or account.deleted_at is not None or account.locked_at is not None:
        raise SignInRefused("gone")
    if is_throttled(session, username=account.username, client=client, now=now):
        raise _fail(session, username=account.username, client=client, now=now, reason="throttled")
    if account.totp_secret_encrypted is None:  # a coordinator created without one: refuse, never skip
        raise _fail(session, username=account.username, client=client, now=now, reason="totp_not_enrolled")
    step = _totp_step(pyotp.TOTP(cipher.decrypt_text(account.totp_secret_encrypted)), code, now)
    if step is None:
        raise _fail(session, username=account.username, client=client, now=now, reason="wrong_totp")
    if account.totp_last_step is not None and step <= account.totp_last_step:
        raise _fail(session, username=account.username, client=client, now=now, reason="totp_reused")
    account.totp_last_step = step
    _signed_in(session, account, now)
    return _staff(account)


def _totp_step(totp: pyotp.TOTP, code: str, now: datetime) -> int | None:
    """The time step the code belongs to (this one or a neighbour, for clock drift), or None."""
    code = code.strip().replace(" ", "")
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _signed_in(session: Session, account: StaffAccount, now: datetime) -> None:
    account.last_login_at = now
    audit.record(session, actor=f"staff:{account.username}", action="signed_in", now=now)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def active_staff(session: Session, *, staff_id: int, issued_at: datetime | None = None) -> Staff | None:
    """The account behind a session, if it may still work (checked on every request).

    A session issued (`issued_at`) before the account's sessions were revoked is refused:
    the console's session is a signed cookie, and a copy of it must not outlive a sign-out.
    """
    account = session.get(StaffAccount, staff_id)
    if account is None or account.deleted_at is not None or account.locked_at is not None:
        return None
    revoked = account.sessions_revoked_at
    if revoked is not None and (issued_at is None or issued_at < revoked):
        return None
    return _staff(account)


def revoke_sessions(session: Session, *, staff_id: int, now: datetime) -> None:
    """End every console session of this account issued until `now` (sign-out everywhere)."""
    account = session.get(StaffAccount, staff_id)
    if account is not None:
        account.sessions_revoked_at = now


def lock_account(session: Session, *, username: str, now: datetime, actor: str = "operator") -> None:
    account = _require(session, username)
    account.locked_at = account.locked_at or now
    audit.record(session, actor=actor, action="staff_locked", now=now, details={"staff_id": account.id})


def unlock_account(session: Session, *, username: str, now: datetime, actor: str = "operator") -> None:
    account = _require(session, username)
    account.locked_at = None
    session.execute(delete(LoginFailure).where(LoginFailure.key == f"user:{account.username}"))
    audit.record(session, actor=actor, action="staff_unlocked", now=now, details={"staff_id": account.id})


def delete_account(session: Session, *, username: str, now: datetime, actor: str = "operator") -> None:
    """Soft delete: the row (and its name) stays for the audit trail; its secrets go."""
    account = _require(session, username)
    account.deleted_at = account.deleted_at or now
    account.totp_secret_encrypted = None
    account.password_hash = _HASHER.hash(secrets.token_urlsafe(32))
    audit.record(session, actor=actor, action="staff_deleted", now=now, details={"staff_id": account.id})


def set_password(session: Session, *, username: str, password: str, now: datetime, actor: str = "operator") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"passwords have at least {MIN_PASSWORD_LENGTH} characters")
    account = _require(session, username)
    account.password_hash = _HASHER.hash(password)
    account.sessions_revoked_at = now  # whoever knew the old password is signed out
    audit.record(session, actor=actor, action="staff_password_set", now=now, details={"staff_id": account.id})


def list_accounts(session: Session) -> list[StaffAccount]:
    return list(session.execute(select(StaffAccount).order_by(StaffAccount.office_id, StaffAccount.username)).scalars())


def _require(session: Session, username: str) -> StaffAccount:
    account = _find(session, username)
    if account is None:
        raise AccountError(f"no account {normalise_username(username)!r}")
    return account
