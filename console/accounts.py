"""Staff accounts from the command line (the console has no sign-up page, by design).

    python -m console.accounts create USER --office oss-pe --role caseworker [--totp]
    python -m console.accounts lock|unlock|delete USER
    python -m console.accounts password USER
    python -m console.accounts list

The password is read from the terminal (or stdin with --password-stdin); when none is
given a strong one is generated and shown once. Coordinators always get TOTP: the
otpauth:// URI to scan is shown once too.
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from datetime import datetime, timezone

from casework.db import session_scope, shared_engine
from casework.models import STAFF_ROLES
from casework.privacy import FieldCipher
from casework.reference import knowledge_base
from casework.settings import load_settings
from casework.staff import (
    AccountError,
    create_account,
    delete_account,
    list_accounts,
    lock_account,
    set_password,
    totp_uri,
    unlock_account,
)


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """(password, generated?)"""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    if args.generate or not sys.stdin.isatty():
        return secrets.token_urlsafe(15), True
    first = getpass.getpass("Password (at least 12 characters): ")
    if first != getpass.getpass("Again: "):
        raise AccountError("the two passwords differ")
    return first, False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console.accounts", description="Staff accounts of the console")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create an account")
    create.add_argument("username")
    create.add_argument("--office", required=True, help="office id from knowledge/data/network.yml")
    create.add_argument("--role", choices=STAFF_ROLES, default="caseworker")
    create.add_argument("--totp", action="store_true", help="require a TOTP code (always on for coordinators)")
    create.add_argument("--language", choices=("es", "pt", "en", "it"))
    for name in ("create", "password"):
        target = create if name == "create" else commands.add_parser("password", help="set a new password")
        if name == "password":
            target.add_argument("username")
        target.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
        target.add_argument("--generate", action="store_true", help="generate a password and show it once")
    for name in ("lock", "unlock", "delete"):
        commands.add_parser(name, help=f"{name} an account").add_argument("username")
    commands.add_parser("list", help="list accounts")
    args = parser.parse_args(argv)

    settings = load_settings()
    now = datetime.now(timezone.utc)
    out = sys.stdout
    try:
        with session_scope(shared_engine()) as db:
            if args.command == "create":
                password, generated = _password(args)
                kb = knowledge_base()
                staff, secret = create_account(
                    db, username=args.username, office_id=args.office, role=args.role, password=password, now=now,
                    cipher=FieldCipher.from_settings(settings), known_offices={o.id for o in kb.offices},
                    totp=args.totp, language=args.language,
                )
                out.write(f"created {staff.username} ({staff.role}, {staff.office_id})\n")
                if generated:
                    out.write(f"password (shown once): {password}\n")
                if secret:
                    out.write(f"TOTP: add this to an authenticator app (shown once):\n  {totp_uri(username=staff.username, secret=secret)}\n"
                              f"  secret: {secret}\n")
            elif args.command == "password":
                password, generated = _password(args)
                set_password(db, username=args.username, password=password, now=now)
                out.write("password set\n" + (f"password (shown once): {password}\n" if generated else ""))
            elif args.command in ("lock", "unlock", "delete"):
                {"lock": lock_account, "unlock": unlock_account, "delete": delete_account}[args.command](
                    db, username=args.username, now=now)
                out.write(f"{args.username}: {args.command} done\n")
            else:
                for account in list_accounts(db):
                    state = "deleted" if account.deleted_at else "locked" if account.locked_at else "active"
                    out.write(f"{account.username}\t{account.office_id}\t{account.role}\t{state}\t"
                              f"totp={'yes' if account.totp_secret_encrypted else 'no'}\n")
    except AccountError as error:
        sys.stderr.write(f"accounts: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
