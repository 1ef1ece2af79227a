"""The pure pieces of `make bench-serving`: figures, signing, scripts, /proc parsing.

No servers and no timing here: the benchmark's figures belong in reports/, not in tests.
"""

from __future__ import annotations

import json
import math
from urllib.parse import parse_qsl

import pytest
import yaml
from twilio.request_validator import RequestValidator

from channels.whatsapp import FormParams, parse_inbound
from devtools.bench_load import TurnResult, percentile, summary
from devtools.bench_people import (
    LANGUAGES,
    TELEGRAM_SECRET_HEADER,
    Crowd,
    ProviderSecrets,
    ScriptProblem,
    load_scripts,
    parse_scripts,
    telegram_webhook,
    whatsapp_webhook,
)
from devtools.bench_procs import stat_cpu_seconds, status_kb

MINIMAL = {language: {"greeting": ["hola"], "questions": ["¿qué ayudas hay?"], "eligibility": ["¿puedo?", "no"],
                      "intake": ["quiero volver", "confirmar"]} for language in LANGUAGES}


# --- figures ---------------------------------------------------------------------------

def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 51.0  # round(0.5 * 99) = 50 -> the 51st value
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.0, 1.0, 2.0], 0) == 1.0  # sorted first
    assert math.isnan(percentile([], 50))


def test_summary_counts_errors_kinds_channels_steps_and_complete_replies() -> None:
    results = [
        TurnResult(True, 0.100, "greeting", "whatsapp", complete=True, complete_s=0.120),
        TurnResult(True, 0.300, "intake", "telegram", complete=False),
        TurnResult(False, 30.0, "intake", "telegram", "no outbound", complete=False),
        TurnResult(False, 0.010, "greeting", "whatsapp", "http 503"),
    ]
    out = summary(results, seconds=2.0)
    assert (out["sent"], out["answered"], out["errors"]) == (4, 2, 2)
    assert out["msgs_per_s"] == 1.0
    assert out["p50_ms"] == 100.0  # nearest rank of [100, 300] ms: index round(0.5) = 0
    assert out["p99_ms"] == 300.0
    assert out["error_kinds"] == {"no outbound": 1, "http 503": 1}
    assert out["complete_share"] == round(1 / 3, 3)  # the 503 never reached the inbox: not counted
    assert out["complete_p50_ms"] == 120.0
    assert out["by_channel"]["whatsapp"] == {"sent": 2, "answered": 1, "p50_ms": 100.0, "p95_ms": 100.0}
    assert out["by_step"]["intake"]["answered"] == 1
    json.dumps(out, allow_nan=False)  # no NaN in reports/bench.json


def test_summary_of_nothing_answered_has_no_latency_and_stays_valid_json() -> None:
    out = summary([TurnResult(False, 30.0, "greeting", "rest", "no text")], seconds=4)
    assert out["p50_ms"] is None
    assert out["p99_ms"] is None
    assert out["msgs_per_s"] == 0.0
    json.dumps(out, allow_nan=False)


# --- signing -----------------------------------------------------------------------------

def test_the_whatsapp_webhook_is_signed_as_twilio_signs_and_reads_as_the_channel_reads() -> None:
    keys = ProviderSecrets()
    hook = whatsapp_webhook(keys, "+34611222333", "¿dónde está la oficina? & más")
    pairs = parse_qsl(hook.body.decode(), keep_blank_values=True)
    form = FormParams(pairs)  # what channels/whatsapp.py validates and reads
    url = keys.public_base_url + hook.path
    validator = RequestValidator(keys.auth_token)
    assert validator.validate(url, form, hook.headers["X-Twilio-Signature"])
    assert not RequestValidator("another-token").validate(url, form, hook.headers["X-Twilio-Signature"])
    assert not validator.validate("http://127.0.0.1:5005" + hook.path, form, hook.headers["X-Twilio-Signature"])
    inbound = parse_inbound(form)
    assert inbound.handle == "+34611222333"
    assert inbound.message_sid == hook.message_id
    assert inbound.payload["text"] == "¿dónde está la oficina? & más"
    assert form.first("AccountSid") == keys.account_sid
    assert form.first("To") == f"whatsapp:{keys.whatsapp_number}"


def test_the_telegram_webhook_carries_the_secret_and_a_private_chat_update() -> None:
    keys = ProviderSecrets()
    hook = telegram_webhook(keys, "123456789", "olá", "pt", update_id=42)
    assert hook.headers[TELEGRAM_SECRET_HEADER] == keys.webhook_secret
    update = json.loads(hook.body)
    assert update["update_id"] == 42
    assert hook.message_id == "42"
    message = update["message"]
    assert message["chat"] == {"id": 123456789, "type": "private", "first_name": "Bench"}
    assert message["from"]["language_code"] == "pt"
    assert message["text"] == "olá"


def test_each_run_makes_up_its_own_provider_secrets() -> None:
    first, second = ProviderSecrets(), ProviderSecrets()
    assert first.auth_token != second.auth_token
    assert first.webhook_secret != second.webhook_secret
    env = first.env("http://127.0.0.1:1", "http://127.0.0.1:2")
    assert env["TWILIO_API_BASE_URL"] == "http://127.0.0.1:1"
    assert env["TELEGRAM_API_BASE_URL"] == "http://127.0.0.1:2"
    assert env["PUBLIC_BASE_URL"] == first.public_base_url


# --- scripts -----------------------------------------------------------------------------

def test_scripts_flatten_in_the_order_of_a_conversation() -> None:
    document = {**MINIMAL, "es": {"intake": ["quiero volver", "confirmar"], "greeting": ["hola"],
                                  "eligibility": ["¿puedo?"], "questions": ["¿qué?"], "closing": ["gracias"]}}
    script = parse_scripts(document)["es"]
    assert [(t.step, t.text) for t in script.turns] == [
        ("greeting", "hola"), ("questions", "¿qué?"), ("eligibility", "¿puedo?"),
        ("intake", "quiero volver"), ("intake", "confirmar"), ("closing", "gracias")]
    assert script.ticket_after == 5  # the intake's confirmation is the 5th line


@pytest.mark.parametrize(("change", "problem"), [
    ({"es": {**MINIMAL["es"], "eligibility": ["¿puedo?", False]}}, "quote yes/no"),  # YAML's unquoted no
    ({"es": {**MINIMAL["es"], "intake": []}}, "non-empty list"),
    ({"es": {**MINIMAL["es"], "smalltalk": ["hola"]}}, "unknown step"),
    ({"fr": MINIMAL["es"]}, "unknown"),
    ({"pt": None}, "expected steps"),
])
def test_scripts_refuse_what_the_bench_cannot_follow(change: dict, problem: str) -> None:
    with pytest.raises(ScriptProblem, match=problem):
        parse_scripts({**MINIMAL, **change})


def test_an_unquoted_no_in_yaml_is_caught() -> None:
    text = yaml.safe_dump(MINIMAL, allow_unicode=True).replace("'no'", "no")
    with pytest.raises(ScriptProblem, match="quote yes/no"):
        parse_scripts(yaml.safe_load(text))


def test_the_bench_conversations_file_covers_every_step_in_each_language() -> None:
    scripts = load_scripts()
    for language, script in scripts.items():
        steps = {turn.step for turn in script.turns}
        assert {"greeting", "questions", "eligibility", "intake"} <= steps, language
        assert script.ticket_after > 0


def test_the_crowd_is_half_whatsapp_half_telegram_in_every_language() -> None:
    crowd = Crowd(parse_scripts(MINIMAL))
    people = [crowd.new() for _ in range(12)]
    assert sum(p.channel == "whatsapp" for p in people) == 6
    assert {p.language for p in people if p.channel == "telegram"} == set(LANGUAGES)
    assert all(p.handle.startswith({"es": "+34", "pt": "+351", "en": "+44"}[p.language])
               for p in people if p.channel == "whatsapp")
    person = people[0]
    said = [person.next_turn() for _ in range(len(person.script.turns))]
    assert all(said)
    assert person.finished
    assert person.reached_ticket
    assert person.next_turn() is None


# --- /proc -------------------------------------------------------------------------------

def test_cpu_seconds_are_read_past_a_command_name_with_spaces_and_parentheses() -> None:
    # pid (comm) state ppid ... utime stime cutime cstime are fields 14-17
    fields = ["S", "1", "1", "1", "0", "-1", "4194560", "100", "0", "0", "0", "250", "50", "30", "20"]
    stat = "4242 (rasa (serve) x) " + " ".join(fields) + " 20 0 1 0"
    import devtools.bench_procs as procs

    assert stat_cpu_seconds(stat) == (250 + 50 + 30 + 20) / procs.TICKS
    assert stat_cpu_seconds(stat, with_children=False) == (250 + 50) / procs.TICKS


def test_status_values_in_kilobytes() -> None:
    status = "Name:\trasa\nVmHWM:\t  1048576 kB\nVmRSS:\t   524288 kB\n"
    assert status_kb(status, "VmHWM") == 1048576
    assert status_kb(status, "VmRSS") == 524288
    assert status_kb(status, "VmSwap") == 0


# --- options -----------------------------------------------------------------------------

def test_quick_is_a_short_run_and_explicit_options_still_win() -> None:
    from devtools.bench import FULL, QUICK, parse_args

    full = parse_args([])
    assert (full.seconds, full.people, full.rates, full.soak) == (FULL["seconds"], FULL["people"], FULL["rates"], 0)
    quick = parse_args(["--quick", "--skip-bare"])
    assert (quick.seconds, quick.rates, quick.turns) == (QUICK["seconds"], QUICK["rates"], QUICK["turns"])
    assert quick.skip_bare
    assert parse_args(["--quick", "--seconds", "60"]).seconds == 60
    assert parse_args(["--soak", "10000"]).soak == 10000


# --- the REST client (bare Rasa's path), against a local stand-in for its webhook ------------

async def test_the_rest_client_counts_text_as_an_answer_and_anything_else_as_an_error() -> None:
    import aiohttp
    from aiohttp import web

    from devtools.bench_load import RestClient
    from devtools.bench_people import Person, Turn

    replies = {"hola": (200, [{"recipient_id": "x", "text": "¡Hola!"}]), "vacío": (200, []),
               "imagen": (200, [{"recipient_id": "x", "image": "https://example.org/a.png"}]), "caído": (503, {})}
    seen = []

    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(body)
        status, answer = replies[body["message"]]
        return web.json_response(answer, status=status)

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001
    client = RestClient(f"http://127.0.0.1:{port}", timeout_s=10)
    person = Person("rest", "bench-1", parse_scripts(MINIMAL)["pt"])
    try:
        async with aiohttp.ClientSession() as session:
            results = {text: await client.turn(session, person, Turn("questions", text)) for text in replies}
    finally:
        await runner.cleanup()
    assert results["hola"].ok
    assert results["hola"].error is None
    assert (results["vacío"].ok, results["vacío"].error) == (False, "no text")
    assert (results["imagen"].ok, results["imagen"].error) == (False, "no text")
    assert (results["caído"].ok, results["caído"].error) == (False, "http 503")
    assert seen[0] == {"sender": "bench-1", "message": "hola", "metadata": {"language": "pt"}}


# --- the report, for both systems (the smoke run measures ours only) -------------------------

def _system_result(channel: str, with_soak: bool) -> dict:
    runs = [TurnResult(True, 0.05 * (i + 1), "questions", channel, complete=channel != "rest" or None)
            for i in range(10)]
    result = {"path": channel, "cold_start_s": 40.0, "cold_start_cpu_s": {"rasa": 20.0},
              "saturation": {**summary(runs, 2.0), "people": 4, "cpu_s": {"rasa": 1.0}},
              "open_loop": [{**summary(runs, 5.0), "offered_msgs_per_s": rate, "cpu_s": {"rasa": 0.5}}
                            for rate in (2.0, 10.0)],
              "tracker_length": [{"events_before": n, "events_after": n + 20, "answered": 3, "p50_ms": 100.0 + n,
                                  "p95_ms": 120.0 + n, "cpu_s": {}} for n in (10, 100, 500)],
              "peak_rss_mb": {"rasa": 900.0}, "rasa_peak_rss_mb": 900.0, "actions_peak_rss_mb": None}
    if with_soak:
        result["soak"] = {**summary(runs, 10.0), "rss": [{"messages": 0, "rasa_rss_mb": 800.0},
                                                         {"messages": 1000, "rasa_rss_mb": 850.0}],
                          "rss_growth_from_messages": 1000, "rss_growth_mb_after_first_1000": {"rasa": 0.0}}
        result["tickets"] = {"people": 3, "confirmed_intake": 2, "tickets": 2, "confirmed_with_one_ticket": 2,
                             "confirmed_without_ticket": 0, "duplicates": 0, "tickets_of_unconfirmed": 0,
                             "by_channel_language": {"telegram/pt": 1, "whatsapp/es": 1}}
    return result


def test_the_report_names_each_path_and_keeps_the_headline_keys(tmp_path) -> None:
    from devtools.bench import TARGETS, headline, markdown, plot

    report = {"run": {"date": "today", "cpus": 2, "loadavg": 0.1, "seconds_per_run": 20, "people": 4,
                      "timeout_s": 30, "quick": False},
              "ours": _system_result("whatsapp", with_soak=True), "bare_rasa": _system_result("rest", with_soak=False)}
    report.update(headline(report["ours"], report["bare_rasa"]))
    assert set(TARGETS) <= set(report)
    assert report["latency_ratio_500_vs_10_events"] == round(600 / 110, 2)
    assert report["p95_ms_at_10_msgs_per_s"] == report["ours"]["open_loop"][1]["p95_ms"]
    text = markdown(report)
    assert "signed WhatsApp and Telegram webhooks" in text
    assert "REST channel (its only one)" in text
    assert "Soak (ours)" in text
    assert "telegram/pt 1" in text
    assert "ours, 2 Rasa replicas" not in text  # no scale-out run in this report
    report["ours"]["scale_out"] = {**report["ours"]["saturation"], "replicas": 2, "msgs_per_s": 3.5}
    report.update(headline(report["ours"], report["bare_rasa"]))
    assert (report["scale_out_replicas"], report["scale_out_saturation_msgs_per_s"]) == (2, 3.5)
    assert "| ours, 2 Rasa replicas | 4 | 3.5 |" in markdown(report)
    plot(report, tmp_path / "bench.png")
    assert (tmp_path / "bench.png").stat().st_size > 0
