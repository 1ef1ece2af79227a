"""The console in a real browser (Playwright driving Debian's Chromium, no browser download):
sign in, open a ticket, take over, reply, hand back, close; the funnel; the WhatsApp
24-hour notice; the phone layout. Screenshots of each page go to reports/console/.

The console talks to the real Rasa server of the `stack` fixture; the person writes through
the REST channel, as the conversation tests do.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from casework.db import make_engine, upgrade
from casework.models import FunnelEvent
from casework.privacy import FieldCipher
from casework.settings import DEFAULT_OFFICES_CONFIG, Settings
from console.app import create_app
from console.config import ConsoleSettings
from console.rasa_api import RasaAPI
from devtools import ROOT
from devtools.stack import Stack, free_port
from tests.casework.conftest import Database
from tests.casework.factories import new_key
from tests.console.conftest import PASSWORD, ChatPerson, Clock, Console

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
SHOTS = ROOT / "reports" / "console"
TEMPLATE_SID = "HX" + "0123456789abcdef" * 2
TIMEOUT_MS = 20_000


@dataclass
class Served:
    url: str
    console: Console
    person: ChatPerson
    reference: str
    whatsapp_reference: str


@pytest.fixture(scope="module")
def served(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if not CHROMIUM.exists():
        if os.environ.get("OSS_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/setup.sh does it)")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from werkzeug.serving import make_server

    workdir = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{workdir / 'cases.db'}"
    upgrade(url)
    engine = make_engine(url)
    offices = yaml.safe_load(DEFAULT_OFFICES_CONFIG.read_text(encoding="utf-8"))
    offices["offices"]["oss-pe"]["whatsapp_template"] = TEMPLATE_SID
    offices_path = workdir / "offices.yml"
    offices_path.write_text(yaml.safe_dump(offices), encoding="utf-8")
    key = new_key()
    clock = Clock(datetime.now(timezone.utc))
    app = create_app(
        ConsoleSettings(secret_key=secrets.token_urlsafe(32), secure_cookies=False),
        casework=Settings(database_url=url, field_encryption_keys=(key,), offices_config_path=offices_path),
        engine=engine, rasa=RasaAPI(stack.rasa_url), clock=lambda: datetime.now(timezone.utc),
    )
    console = Console(app=app, db=Database(kind="sqlite", url=url, engine=engine), cipher=FieldCipher([key]), clock=clock)
    console.add_staff("lucia", office="oss-pe")

    person = ChatPerson(stack, "es")
    person.text("hola, soy de Perú y vivo en Madrid")
    now = clock()
    for weeks in range(5):  # some history for the queue and the funnel chart
        console.add_ticket(at=now - timedelta(weeks=weeks, hours=3), priority="high" if weeks == 1 else "normal",
                           needs=("housing", "employment"))
    with console.db.session() as session:
        for weeks, count in ((0, 9), (1, 14), (2, 11), (3, 7), (4, 12)):
            at = now - timedelta(weeks=weeks)
            week = f"{at.isocalendar()[0]}-W{at.isocalendar()[1]:02d}"
            for step, factor in (("conversation", 3), ("question_answered", 5), ("eligibility_checked", 2),
                                 ("intake_started", 1)):
                session.add_all(FunnelEvent(step=step, week=week, office_id="oss-pe", origin_country="PE",
                                            residence_country="ES") for _ in range(count * factor // 3))
    whatsapp = console.add_ticket(channel="whatsapp", sender_id=f"wa-{secrets.token_hex(12)}",
                                  last_inbound_at=now - timedelta(hours=30))
    reference = console.add_ticket(sender_id=person.sender, priority="urgent",
                                   fields={"preferred_name": "María Quispe <i>Mamani</i>", "residence_city": "Alcobendas",
                                           "household_adults": 3, "contact_time": "morning"})

    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield Served(url=f"http://127.0.0.1:{server.server_port}", console=console, person=person,
                     reference=reference, whatsapp_reference=whatsapp)
    finally:
        server.shutdown()
        engine.dispose()


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[object]:
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


def sign_in(page: object, served: Served) -> None:
    page.goto(f"{served.url}/login")
    page.fill("#username", "lucia")
    page.fill("#password", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_url(f"{served.url}/queue")


def test_a_caseworker_works_a_ticket_from_sign_in_to_close(browser: object, served: Served) -> None:
    expect = playwright_api.expect
    context = browser.new_context(locale="es-ES", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)

    page.goto(f"{served.url}/queue")
    page.wait_for_url("**/login**")
    page.screenshot(path=SHOTS / "01-login.png", full_page=True)
    sign_in(page, served)
    expect(page.locator("table.queue tbody tr").first).to_contain_text(served.reference)  # urgent first
    expect(page.locator("h1")).to_contain_text("Bandeja")
    page.screenshot(path=SHOTS / "02-queue.png", full_page=True)

    page.click(f"text={served.reference}")
    page.wait_for_url(f"**/tickets/{served.reference}")
    expect(page.locator("#summary")).to_contain_text("María Quispe <i>Mamani</i>")  # shown as typed, not as HTML
    expect(page.locator("#summary")).not_to_contain_text("preferred_name")  # labels, not machine keys
    expect(page.locator("#chat")).to_contain_text("soy de Perú y vivo en Madrid")
    expect(page.locator("#handoff-state")).to_have_attribute("data-paused", "no")
    page.screenshot(path=SHOTS / "03-ticket.png", full_page=True)

    page.click("#take-over button")
    expect(page.locator("#handoff-state")).to_have_attribute("data-paused", "yes")
    expect(page.locator("#chat li.staff").last).to_contain_text("se ha unido a la conversación")
    page.screenshot(path=SHOTS / "04-taken-over.png", full_page=True)

    assert served.person.say("¿me oyen? <b>es urgente</b>") == []  # the assistant is paused
    expect(page.locator("#chat li.person").last).to_contain_text("¿me oyen? <b>es urgente</b>")  # no reload
    assert page.locator("#chat b").count() == 0
    page.screenshot(path=SHOTS / "05-person-writes.png", full_page=True)

    page.fill("#reply-text", "Hola, soy Lucía de la Ventanilla Única de Lima. ¿Podemos llamarte mañana?")
    page.click("#reply button[type=submit]")
    expect(page.locator("#chat li.staff").last).to_contain_text("soy Lucía")
    tracker = served.person.tracker()
    assert [e["text"] for e in tracker["events"] if e["event"] == "bot"][-1].startswith("Hola, soy Lucía")
    page.screenshot(path=SHOTS / "06-reply.png", full_page=True)

    page.click("#hand-back button")
    expect(page.locator("#handoff-state")).to_have_attribute("data-paused", "no")
    expect(page.locator("#chat li.staff").last).to_contain_text("Vuelve a responderte el asistente")
    assert served.person.text("gracias")  # the assistant answers the person again
    page.screenshot(path=SHOTS / "07-handed-back.png", full_page=True)

    page.select_option("#status", "closed")
    page.select_option("#reason", "resolved")
    page.click("#status-form button[type=submit]")
    expect(page.locator("#ticket-status")).to_have_text("Cerrado")
    page.screenshot(path=SHOTS / "08-closed.png", full_page=True)
    rows = served.console.db.rows("SELECT status, close_reason FROM tickets WHERE reference = :r", r=served.reference)
    assert rows == [{"status": "closed", "close_reason": "resolved"}]

    page.click("nav >> text=Embudo")
    expect(page.locator("#chart svg")).to_be_visible()
    bars = page.evaluate("[...document.querySelectorAll('#chart svg rect')].filter(r => !r.classList.contains('legend') && +r.getAttribute('height') > 0).length")
    assert bars >= 20  # 5 weeks x (4 anonymous steps + tickets + intakes), drawn from the database
    page.screenshot(path=SHOTS / "09-funnel.png", full_page=True)

    page.goto(f"{served.url}/tickets/{served.whatsapp_reference}")
    expect(page.locator("#window-closed")).to_contain_text("24 horas")
    expect(page.locator("#window-closed blockquote")).to_contain_text("Ventanilla Única")
    assert page.locator("#reply").count() == 0  # no free-text reply that WhatsApp would refuse
    page.screenshot(path=SHOTS / "10-whatsapp-24h-window.png", full_page=True)
    context.close()


def test_the_console_fits_a_phone(browser: object, served: Served) -> None:
    context = browser.new_context(locale="pt-PT", viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    sign_in(page, served)
    playwright_api.expect(page.locator("h1")).to_contain_text("Fila")
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert page.evaluate(overflow) <= 0
    page.screenshot(path=SHOTS / "11-phone-queue.png", full_page=True)
    page.click(f"text={served.reference}")
    playwright_api.expect(page.locator("#chat li").first).to_be_visible()
    assert page.evaluate(overflow) <= 0
    page.screenshot(path=SHOTS / "12-phone-ticket.png", full_page=True)
    context.close()
