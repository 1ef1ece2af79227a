"""Sign in (password, then TOTP when the account has it or is a coordinator) and sign out.

Every refusal shows the same sentence, whether the name is unknown, the password wrong,
the account locked or deleted, or the sign-ins throttled: the page tells an attacker
nothing. The reason goes to the audit trail instead.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, session, url_for

from casework.staff import SignInRefused, check_password, check_totp, revoke_sessions
from console.app import services, t

blueprint = Blueprint("auth", __name__)
PENDING_TOTP_SECONDS = 300


def _client() -> str:
    return request.remote_addr or "unknown"


def _safe_next(target: str | None) -> str:
    """Only a path of this site: no scheme, no host, no `//` or `/\\` that browsers read as a host."""
    if target and is_local_path(target):
        return target
    return url_for("tickets.queue")


def is_local_path(target: str) -> bool:
    return target.startswith("/") and not target.startswith(("//", "/\\")) and "\\" not in target and ":" not in target.split("?")[0]


def _start_session(staff_id: int) -> None:
    lang = session.get("lang")
    session.clear()  # a fresh session on sign-in: no fixation of a pre-login cookie
    now = services().clock().timestamp()
    session.update(staff_id=staff_id, issued=now, last=now)
    if lang:
        session["lang"] = lang
    session.permanent = True


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        username = request.form.get("username", "")[:64]
        password = request.form.get("password", "")[:256]
        svc = services()
        needs_totp = False
        with svc.unit_of_work() as db:
            try:
                staff, needs_totp = check_password(db, username=username, password=password, client=_client(),
                                                   now=svc.clock())
            except SignInRefused:
                staff = None  # the failure is committed with this unit of work (throttling)
        if staff is None:
            error = t("sign_in_refused")
        elif needs_totp:
            session.clear()
            session.update(totp_staff_id=staff.id, totp_since=svc.clock().timestamp(),
                           next=_safe_next(request.args.get("next")))
            return redirect(url_for("auth.totp"))
        else:
            _start_session(staff.id)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", error=error), (401 if error else 200)


@blueprint.route("/login/totp", methods=["GET", "POST"])
def totp() -> Any:
    svc = services()
    staff_id, since = session.get("totp_staff_id"), session.get("totp_since", 0)
    if staff_id is None or svc.clock().timestamp() - since > PENDING_TOTP_SECONDS:
        session.clear()
        return redirect(url_for("auth.login"))
    error = None
    if request.method == "POST":
        staff = None
        with svc.unit_of_work() as db:
            try:
                staff = check_totp(db, staff_id=int(staff_id), code=request.form.get("code", "")[:16],
                                   client=_client(), now=svc.clock(), cipher=svc.cipher)
            except SignInRefused:
                staff = None
        if staff is not None:
            target = session.get("next")
            _start_session(staff.id)
            return redirect(_safe_next(target))
        error = t("sign_in_refused")
    return render_template("totp.html", error=error), (401 if error else 200)


@blueprint.post("/logout")
def logout() -> Any:
    """Sign out here and everywhere: the cookie is a signed token, so forgetting it in this
    browser alone would leave any copy of it working until it expired."""
    staff_id = session.get("staff_id")
    if staff_id is not None:
        svc = services()
        with svc.unit_of_work() as db:
            revoke_sessions(db, staff_id=int(staff_id), now=svc.clock())
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("auth.login"))
