"""The console's Flask application: sessions, CSRF, security headers, and the pages.

Security decisions, in one place:
- Session cookie: signed (itsdangerous), HttpOnly, SameSite=Lax, Secure whenever the
  console is served over https (CONSOLE_BASE_URL), named `__Host-...` then.
- A session ends after CONSOLE_IDLE_MINUTES (30) without a request and after
  CONSOLE_SESSION_HOURS (10) in any case; every request re-reads the account, so a locked
  or deleted account is out at its next click. Signing out (or a new password) revokes
  every session of the account issued until then (`sessions_revoked_at`): a copy of the
  cookie does not outlive the sign-out.
- CSRF: Flask-WTF's CSRFProtect on every POST, the sign-in form included.
- Every page: no caching (personal data), a strict Content-Security-Policy (no inline
  script, nothing from other origins), no framing, the referrer only to the console itself
  (`same-origin`: over https Flask-WTF refuses a POST without a Referer of this host, and
  `no-referrer` would make every form fail behind the TLS proxy).
- Office scoping is not done here but in `casework.queue` / `casework.funnel`, for every query.
- Behind a proxy (CONSOLE_TRUSTED_PROXIES = n > 0), werkzeug's ProxyFix takes the client
  address and scheme from the last n X-Forwarded-For/-Proto values, so sign-in throttling
  counts the real client and `url_for(..., _external=True)` builds https links. With 0 the
  headers are ignored: a client cannot pick the address it is throttled by. The Host header
  is used as the proxy passes it (X-Forwarded-Host is not trusted).
- `/health` (liveness: the process answers) and `/ready` (readiness: the cases database
  answers and is migrated) are public and touch no session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from casework.db import is_migrated, make_engine, session_scope
from casework.log_privacy import install_own_debug_only
from casework.offices import OfficesConfig, load_offices_config
from casework.privacy import FieldCipher
from casework.reference import KnowledgeBase, knowledge_base
from casework.settings import Settings, load_settings
from casework.staff import Staff, active_staff
from casework.tickets import TicketNotFound
from console import labels
from console.config import ConsoleSettings
from console.i18n import UI_LANGUAGES, translate
from console.rasa_api import RasaAPI

PUBLIC_ENDPOINTS = {"auth.login", "auth.totp", "static", "health", "ready", "set_language"}
JSON_ENDPOINTS = {"tickets.conversation", "notifications"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Services:
    """What the views need, built once per application (never at import)."""

    def __init__(self, *, engine: Any, cipher: FieldCipher, kb: KnowledgeBase, offices: OfficesConfig,
                 rasa: RasaAPI, settings: ConsoleSettings, clock: Callable[[], datetime]) -> None:
        self.engine, self.cipher, self.kb, self.offices = engine, cipher, kb, offices
        self.rasa, self.settings, self.clock = rasa, settings, clock

    @property
    def known_offices(self) -> set[str]:
        return {office.id for office in self.kb.offices}

    @contextmanager
    def unit_of_work(self) -> Iterator[Any]:
        """A database session (casework.db.session_scope): commits on success, rolls back on error."""
        with session_scope(self.engine) as db:
            yield db


def services() -> Services:
    return current_app.extensions["oss_console"]


def create_app(
    settings: ConsoleSettings | None = None, *, casework: Settings | None = None, engine: Any = None,
    rasa: RasaAPI | None = None, clock: Callable[[], datetime] = utc_now, kb: KnowledgeBase | None = None,
) -> Flask:
    settings = settings or ConsoleSettings.from_env()
    casework = casework or load_settings()
    kb = kb or knowledge_base()
    install_own_debug_only()  # at DEBUG only our packages log below INFO (casework/log_privacy.py)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="__Host-oss_console" if settings.secure_cookies else "oss_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=settings.absolute_timeout,
        WTF_CSRF_TIME_LIMIT=int(settings.absolute_timeout.total_seconds()),
        MAX_CONTENT_LENGTH=64 * 1024,
        PREFERRED_URL_SCHEME="https" if settings.secure_cookies else "http",
    )
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    app.extensions["oss_console"] = Services(
        engine=engine or make_engine(casework.database_url),
        cipher=FieldCipher.from_settings(casework),
        kb=kb,
        offices=load_offices_config(casework.offices_config_path, kb=kb),
        rasa=rasa or RasaAPI(settings.rasa_url, settings.rasa_api_token),
        settings=settings,
        clock=clock,
    )
    CSRFProtect(app)
    _register(app)
    return app


def ui_language() -> str:
    chosen = session.get("lang")
    if chosen in UI_LANGUAGES:
        return chosen
    staff = g.get("staff")
    if staff is not None and staff.language in UI_LANGUAGES:
        return staff.language
    return request.accept_languages.best_match(UI_LANGUAGES) or "en"


def t(key: str, **values: object) -> str:
    return translate(key, ui_language(), **values)


def _in_ui_language(label: Callable[..., str]) -> Callable[..., str]:
    """A `console.labels` function for templates: the language is the page's (`{{ need_label(n) }}`)."""
    def in_language(*args: Any) -> str:
        return label(*args, ui_language())
    return in_language


def current_staff() -> Staff:
    staff = g.get("staff")
    if staff is None:  # pragma: no cover - the before_request hook guarantees it
        abort(401)
    return staff


def _register(app: Flask) -> None:
    from console import views_auth, views_funnel, views_tickets

    app.register_blueprint(views_auth.blueprint)
    app.register_blueprint(views_tickets.blueprint)
    app.register_blueprint(views_funnel.blueprint)
    app.jinja_env.globals.update(t=t, ui_language=ui_language, UI_LANGUAGES=UI_LANGUAGES)
    app.jinja_env.globals.update({name: _in_ui_language(fn) for name, fn in labels.JINJA_GLOBALS.items()})

    @app.before_request
    def require_staff() -> Any:
        g.staff = None
        if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
            return None
        now = services().clock().timestamp()
        settings = services().settings
        staff_id, issued, last = session.get("staff_id"), session.get("issued", 0), session.get("last", 0)
        expired = (
            staff_id is None
            or now - issued > settings.absolute_timeout.total_seconds()
            or now - last > settings.idle_timeout.total_seconds()
        )
        staff = None
        if staff_id is not None and not expired:  # the first test narrows the type for mypy
            with services().unit_of_work() as db:
                staff = active_staff(db, staff_id=int(staff_id),
                                     issued_at=datetime.fromtimestamp(float(issued), timezone.utc))
        if staff is None:
            had_session = staff_id is not None
            for key in ("staff_id", "issued", "last"):
                session.pop(key, None)
            if request.endpoint in JSON_ENDPOINTS:
                return jsonify(error="signed_out"), 401
            if had_session:
                flash(t("session_expired"), "info")
            return redirect(url_for("auth.login", next=request.path if request.method == "GET" else None))
        session["last"] = now
        g.staff = staff
        return None

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        if app.config["SESSION_COOKIE_SECURE"]:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response

    @app.errorhandler(TicketNotFound)
    def not_found(_error: Exception) -> Any:
        return render_template("error.html", message=t("ticket_not_found")), 404

    @app.errorhandler(404)
    def page_not_found(_error: Exception) -> Any:
        return render_template("error.html", message=t("page_not_found")), 404

    @app.errorhandler(405)
    def not_allowed_method(_error: Exception) -> Any:
        return render_template("error.html", message=t("not_allowed")), 405

    @app.errorhandler(CSRFError)
    def csrf_refused(_error: CSRFError) -> Any:
        return render_template("error.html", message=t("csrf_refused")), 400

    @app.get("/health")
    def health() -> Any:
        return jsonify(status="ok")

    @app.get("/ready")
    def ready() -> Any:
        if is_migrated(services().engine):
            return jsonify(status="ready")
        return jsonify(status="unavailable"), 503

    @app.post("/language")
    def set_language() -> Any:
        chosen = request.form.get("lang", "")
        if chosen in UI_LANGUAGES:
            session["lang"] = chosen
        from console.views_auth import is_local_path

        target = request.form.get("next", "")
        return redirect(target if is_local_path(target) else url_for("tickets.queue"))

    @app.get("/notifications")
    def notifications() -> Any:
        from casework.queue import new_ticket_count

        with services().unit_of_work() as db:
            count = new_ticket_count(db, current_staff())
        return jsonify(new_tickets=count, text=t("new_tickets", count=count) if count else "")

    @app.get("/")
    def index() -> Any:
        return redirect(url_for("tickets.queue"))
