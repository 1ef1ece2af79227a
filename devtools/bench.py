"""`make bench-serving`: the serving path of our assistant against bare Rasa, in one run.

Ours runs in the production profile (deploy/endpoints.yml): a throwaway PostgreSQL tracker
store, a throwaway Redis lock store, the action server with the cases in PostgreSQL, one
Rasa server with WhatsApp and Telegram on, their API base URLs pointed at fake Twilio and
Telegram servers running in this process (devtools/fake_providers.py). Simulated people
(devtools/bench_people.py, scripts in devtools/bench_conversations.yml), half on each
channel, send signed webhooks; the answer time runs from the inbound POST to the first
outbound call with text that the fake provider receives for that person
(devtools/bench_load.py). Bare Rasa is `rasa init`'s project trained with its default
config (devtools/baseline/config.yml): REST channel (it has no other), in-memory tracker
store, no actions; its answer is the REST reply.

Measured for each:
- cold start: Rasa process spawned to first answered message;
- saturation: closed loop, each simulated person writes as soon as answered;
- open loop at fixed rates (people typing at human pace): p50/p95/p99, errors;
- latency against tracker length (10, 100 and 500 events in the current session);
- CPU seconds per process for each run, peak resident memory (VmHWM) per process;
- ours: the tickets the intakes opened (SQL on the cases database), and the share of
  turns whose reply was complete (every part sent);
- `--soak N`: N messages in a closed loop, resident memory of Rasa and of the action
  server every 1,000 messages;
- ours scaled out (`--replicas N`, default 2): after the runs above, N-1 more Rasa
  replicas join the first one (same databases, Redis and action server) and webhooks are
  spread over them in turn, as a load balancer would; saturation again.

Writes reports/bench.json, reports/bench.md and reports/bench.png. Timings depend on what
else runs on the machine; run it on a quiet one.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from devtools import ROOT
from devtools.bench_load import (
    ChannelClient,
    Client,
    InboxWatch,
    OutboundWatch,
    RestClient,
    closed_loop,
    open_loop,
    percentile,
)
from devtools.bench_people import Crowd, Person, ProviderSecrets, Script, Turn, load_scripts, new_handle
from devtools.bench_procs import CpuMeter, cpu_seconds, memory_mb
from devtools.fake_providers import FakeProviders, FakeTelegram, FakeTwilio
from devtools.services import PostgresServer, RedisServer
from devtools.stack import VENV_BIN, free_port, wait_http

REPORTS = ROOT / "reports"
INITIAL_PROJECT = Path(__import__("rasa").__path__[0]) / "cli" / "initial_project"
BASELINE_CONFIG = ROOT / "devtools" / "baseline" / "config.yml"
TOKEN = uuid.uuid4().hex
TRACKER_LENGTHS = (10, 100, 500)
SOAK_SAMPLE_EVERY = 1000
DRAIN_S = 120  # the longest wait for the last run's backlog before the next one
# Lines rasa init's moodbot answers whatever its training run: a bare "no" after a greeting
# fits none of its stories, and a model trained at 17:03 on 2026-11-24 answered it with
# silence (counted as an error, and as a message that cost it less work).
BARE_MESSAGES = ["hello", "I am feeling very good", "I am sad", "yes", "are you a bot?", "good morning",
                 "I am great", "bye"]


@dataclass
class System:
    """One system under test: its processes, how to reach it, who talks to it."""

    name: str
    url: str
    client: Client
    crowd: Crowd
    probe_channel: str  # the channel of the tracker-length probe
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    other_pids: dict[str, int] = field(default_factory=dict)  # PostgreSQL, Redis
    cold_start_s: float = 0.0
    cold_start_cpu_s: dict[str, float] = field(default_factory=dict)  # CPU used up to the first answer
    inbox: InboxWatch | None = None
    spawn_replica: Callable[[str], str] | None = None  # starts one more Rasa replica; returns its URL

    @property
    def pids(self) -> dict[str, int]:
        return {**{name: proc.pid for name, proc in self.processes.items()}, **self.other_pids}

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if self.inbox is not None:
            self.inbox.dispose()


def _spawn(cmd: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - fixed argv
        cmd, cwd=cwd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def _base_env() -> dict[str, str]:
    """Bare Rasa runs as shipped: TensorFlow picks its own thread counts."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RASA_TELEMETRY_ENABLED": "false",
           "TF_CPP_MIN_LOG_LEVEL": "2", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    for name in ("TF_INTER_OP_PARALLELISM_THREADS", "TF_INTRA_OP_PARALLELISM_THREADS", "OMP_NUM_THREADS"):
        env.pop(name, None)
    return env


def _ours_env() -> dict[str, str]:
    """Ours as deployed (deploy/Dockerfile, deploy/k8s/config.yaml): one TensorFlow and OpenMP thread."""
    return {**_base_env(), "TF_INTER_OP_PARALLELISM_THREADS": "1", "TF_INTRA_OP_PARALLELISM_THREADS": "1",
            "OMP_NUM_THREADS": "1"}


def _throwaway_secrets() -> dict[str, str]:
    """Fresh per run: the databases are thrown away too."""
    return {"FIELD_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "SENDER_ID_SECRET": secrets.token_hex(32),
            "CONSOLE_SECRET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode()}


def _rasa(model: Path, port: int, credentials: str, endpoints: str) -> list[str]:
    return [str(VENV_BIN / "rasa"), "run", "--model", str(model), "--enable-api", "--auth-token", TOKEN,
            "--interface", "127.0.0.1", "--port", str(port), "--credentials", credentials,
            "--endpoints", endpoints]


async def _first_answer(system: System, spawned: float, deadline_s: float) -> None:
    """Cold start: from the Rasa process's spawn to the first answered message."""
    end = time.monotonic() + deadline_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < end:
            person = Person(system.probe_channel, new_handle(system.probe_channel, "en"),
                            system.crowd.scripts["en"])
            result = await system.client.turn(session, person, Turn("greeting", "hello"))
            if result.ok:
                system.cold_start_s = round(time.monotonic() - spawned, 1)
                system.cold_start_cpu_s = {name: cpu_seconds(proc.pid) for name, proc in system.processes.items()}
                return
            await asyncio.sleep(0.25)
    raise TimeoutError("no first answer")


def _cold_start(system: System, spawned: float, deadline_s: float = 600) -> None:
    wait_http(f"{system.url}/", deadline_s, system.processes["rasa"])
    asyncio.run(_first_answer(system, spawned, 120))


def start_ours(model: Path, workdir: Path, pg: PostgresServer, redis: RedisServer, keys: ProviderSecrets,
               twilio: FakeTwilio, telegram: FakeTelegram, outbound: OutboundWatch, scripts: dict[str, Script],
               timeout_s: float) -> System:
    from casework.db import upgrade
    from casework.privacy import pseudonymous_sender_id

    actions_port, rasa_port = free_port(), free_port()
    cases = pg.create_database(f"cases_{uuid.uuid4().hex[:6]}")
    env = {**_ours_env(), **_throwaway_secrets(), "DATABASE_URL": cases,
           "TRACKER_STORE_URL": pg.create_database(f"trackers_{uuid.uuid4().hex[:6]}"),
           "REDIS_URL": redis.url, "ACTION_SERVER_URL": f"http://127.0.0.1:{actions_port}/webhook",
           **keys.env(twilio.base_url, telegram.base_url)}
    upgrade(cases)
    url = f"http://127.0.0.1:{rasa_port}"
    secret = env["SENDER_ID_SECRET"]
    inbox = InboxWatch(cases)
    client = ChannelClient(url, keys, outbound, inbox,
                           lambda channel, handle: pseudonymous_sender_id(channel, handle, secret), timeout_s)
    system = System("ours", url, client, Crowd(scripts), "whatsapp", inbox=inbox,
                    other_pids={"postgres": pg_pid(pg), "redis": redis.process.pid if redis.process else 0})
    try:
        system.processes["actions"] = _spawn(
            [sys.executable, "-m", "bot.serve", "--actions", "bot.actions", "--port", str(actions_port)],
            env, workdir / "ours-actions.log")
        wait_http(f"http://127.0.0.1:{actions_port}/health", 300, system.processes["actions"])
        spawned = time.monotonic()
        system.processes["rasa"] = _spawn(_rasa(model, rasa_port, "credentials.yml", "deploy/endpoints.yml"),
                                          env, workdir / "ours-rasa.log")
        _cold_start(system, spawned)
    except BaseException:  # Ctrl-C or a failed start: the servers run in their own process groups
        system.stop()
        raise

    def spawn_replica(name: str) -> str:
        port = free_port()
        system.processes[name] = _spawn(_rasa(model, port, "credentials.yml", "deploy/endpoints.yml"),
                                        env, workdir / f"ours-{name}.log")
        wait_http(f"http://127.0.0.1:{port}/", 600, system.processes[name])
        return f"http://127.0.0.1:{port}"

    system.spawn_replica = spawn_replica
    return system


@contextlib.contextmanager
def running_ours(model: Path, workdir: Path, scripts: dict[str, Script], timeout_s: float) -> Iterator[System]:
    """Ours with a throwaway PostgreSQL and Redis and the fake providers (as `start_ours`);
    everything stopped and removed on the way out. Shared by the bench and `make profile`."""
    keys = ProviderSecrets()
    twilio, telegram = FakeTwilio(keys.account_sid, keys.auth_token), FakeTelegram(keys.bot_token)
    outbound = OutboundWatch()
    outbound.attach(twilio, telegram)
    pg, redis = PostgresServer(), RedisServer()
    pg.start()
    redis.start()
    try:
        with FakeProviders(twilio, telegram):
            system = start_ours(model, workdir, pg, redis, keys, twilio, telegram, outbound, scripts, timeout_s)
            try:
                yield system
            finally:
                system.stop()
    finally:
        pg.remove()
        redis.remove()


def pg_pid(pg: PostgresServer) -> int:
    """The postmaster's pid (its backends are its children)."""
    try:
        return int((pg.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def bare_model(workdir: Path) -> Path:
    """`rasa init`'s project trained with the default config; cached under models/."""
    digest = hashlib.sha256(BASELINE_CONFIG.read_bytes())
    for path in sorted((INITIAL_PROJECT / "data").glob("*.yml")) + [INITIAL_PROJECT / "domain.yml"]:
        digest.update(path.read_bytes())
    name = f"bare-rasa-init-{digest.hexdigest()[:12]}"
    cached = ROOT / "models" / f"{name}.tar.gz"
    if cached.exists():
        return cached
    project = workdir / "bare-project"
    shutil.copytree(INITIAL_PROJECT, project)
    # A copy: Rasa writes a generated assistant_id back into the config it trains with.
    shutil.copy(BASELINE_CONFIG, project / "config.yml")
    print("bench: training bare Rasa (rasa init's project, default config) ...", flush=True)
    subprocess.run(  # noqa: S603
        [str(VENV_BIN / "rasa"), "train", "--config", "config.yml", "--domain", "domain.yml",
         "--data", "data", "--out", str(ROOT / "models"), "--fixed-model-name", name],
        cwd=project, env=_base_env(), check=True, stdout=subprocess.DEVNULL,
    )
    return cached


def bare_scripts() -> dict[str, Script]:
    """Bare Rasa knows `rasa init`'s moodbot only: its people say its lines, in English."""
    script = Script("en", tuple(Turn("greeting" if i == 0 else "questions", text)
                                for i, text in enumerate(BARE_MESSAGES)))
    return {language: script for language in ("es", "pt", "en")}


def start_bare(model: Path, workdir: Path, timeout_s: float) -> System:
    port = free_port()
    project = workdir / "bare-run"
    project.mkdir(exist_ok=True)
    (project / "credentials.yml").write_text("rest:\n")
    (project / "endpoints.yml").write_text("{}\n")
    url = f"http://127.0.0.1:{port}"
    system = System("bare_rasa", url, RestClient(url, timeout_s), Crowd(bare_scripts(), channels=("rest",)), "rest")
    spawned = time.monotonic()
    try:
        system.processes["rasa"] = _spawn(_rasa(model, port, "credentials.yml", "endpoints.yml"), _base_env(),
                                          workdir / "bare-rasa.log", cwd=project)
        _cold_start(system, spawned)
    except BaseException:  # as in start_ours: no server left behind
        system.stop()
        raise
    return system


# --- the measurements -------------------------------------------------------------------

async def tracker_length(system: System, events: int, turns: int) -> dict[str, Any]:
    """Latency of `turns` questions from a person whose current session holds `events` events."""
    script = system.crowd.scripts["es"]
    person = Person(system.probe_channel, new_handle(system.probe_channel, "es"), script)
    questions = script.texts("questions")
    async with aiohttp.ClientSession() as session:
        await system.client.turn(session, person, Turn("greeting", script.texts("greeting")[0]))
        sender = system.client.sender_id(person)
        triplet: list[dict[str, Any]] = [
            {"event": "user", "text": "hola", "parse_data": {"intent": {"name": "greet", "confidence": 1.0},
                                                              "entities": []}},
            {"event": "bot", "text": "hola"},
            {"event": "action", "name": "action_listen"},
        ]
        filler = [{**e, "timestamp": time.time()} for _ in range(max(0, events - 5) // 3) for e in triplet]
        async with session.post(f"{system.url}/conversations/{sender}/tracker/events?token={TOKEN}",
                                json=filler) as reply:
            reply.raise_for_status()
        latencies = []
        for index in range(turns):
            result = await system.client.turn(session, person, Turn("questions", questions[index % len(questions)]))
            if result.ok:
                latencies.append(result.latency_s * 1000)
        async with session.get(f"{system.url}/conversations/{sender}/tracker?token={TOKEN}") as reply:
            stored = len((await reply.json())["events"])
    return {"events_before": events, "events_after": stored, "answered": len(latencies),
            "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
            "p95_ms": round(percentile(latencies, 95), 1) if latencies else None}


async def soak(system: System, messages: int, people: int) -> dict[str, Any]:
    """`messages` in a closed loop; resident memory of Rasa and the action server every 1,000."""
    samples: list[dict[str, Any]] = []

    def sample(sent: int) -> None:
        samples.append({"messages": sent, **{f"{name}_rss_mb": memory_mb(proc.pid, "VmRSS")
                                             for name, proc in system.processes.items()}})

    sample(0)
    result = await closed_loop(system.client, system.crowd, people, messages=messages,
                               every=(SOAK_SAMPLE_EVERY, sample))
    if not samples or samples[-1]["messages"] != messages:
        sample(messages)
    result["rss"] = samples
    base = next((s for s in samples if s["messages"] >= SOAK_SAMPLE_EVERY), samples[0])
    result["rss_growth_from_messages"] = base["messages"]  # the first 1,000 warm caches up
    result["rss_growth_mb_after_first_1000"] = {
        name: round((samples[-1][f"{name}_rss_mb"] or 0) - (base[f"{name}_rss_mb"] or 0), 1)
        for name in system.processes
    }
    return result


async def _metered(system: System, run: Any) -> dict[str, Any]:
    backlog = await system.inbox.drained(DRAIN_S) if system.inbox is not None else 0
    meter = CpuMeter(system.pids)
    meter.start()
    result = await run
    result["cpu_s"] = meter.stop()
    if system.inbox is not None:
        result["backlog_at_start"] = backlog  # messages of the last run still unfinished after DRAIN_S
    return result


async def _measure(system: System, args: argparse.Namespace) -> dict[str, Any]:
    client, crowd = system.client, system.crowd
    result: dict[str, Any] = {"path": client.path, "cold_start_s": system.cold_start_s,
                              "cold_start_cpu_s": system.cold_start_cpu_s}
    await closed_loop(client, crowd, 4, args.warmup)  # warm-up
    print(f"bench: {system.name}: saturation ...", flush=True)
    result["saturation"] = await _metered(system, closed_loop(client, crowd, args.people, args.seconds))
    result["open_loop"] = []
    for rate in args.rates:
        print(f"bench: {system.name}: open loop at {rate} msg/s ...", flush=True)
        result["open_loop"].append(await _metered(system, open_loop(client, crowd, rate, args.seconds)))
    result["tracker_length"] = []
    for events in TRACKER_LENGTHS:
        print(f"bench: {system.name}: {events}-event tracker ...", flush=True)
        result["tracker_length"].append(await _metered(system, tracker_length(system, events, args.turns)))
    if args.soak:
        print(f"bench: {system.name}: soak of {args.soak} messages ...", flush=True)
        result["soak"] = await _metered(system, soak(system, args.soak, args.people))
    if args.replicas > 1 and system.spawn_replica is not None and isinstance(client, ChannelClient):
        print(f"bench: {system.name}: saturation with {args.replicas} Rasa replicas ...", flush=True)
        names = [f"rasa_{index}" for index in range(2, args.replicas + 1)]
        urls = [system.url] + [await asyncio.to_thread(system.spawn_replica, name) for name in names]
        client.spread_over(urls)
        await closed_loop(client, crowd, 4, args.warmup)  # warm-up of the new replicas
        result["scale_out"] = {"replicas": args.replicas,
                               **await _metered(system, closed_loop(client, crowd, args.people, args.seconds))}
        client.spread_over([system.url])
    if system.inbox is not None:
        result["backlog_at_end"] = await system.inbox.drained(DRAIN_S)
        result["tickets"] = await asyncio.to_thread(count_tickets, system)
    result["peak_rss_mb"] = {name: memory_mb(pid) for name, pid in system.pids.items() if pid}
    result["rasa_peak_rss_mb"] = result["peak_rss_mb"].get("rasa")
    result["actions_peak_rss_mb"] = result["peak_rss_mb"].get("actions")
    return result


def measure(system: System, args: argparse.Namespace) -> dict[str, Any]:
    print(f"bench: {system.name}: cold start {system.cold_start_s}s; measuring ...", flush=True)
    result = asyncio.run(_measure(system, args))
    print(f"bench: {system.name}: saturation {json.dumps({k: result['saturation'][k] for k in ('msgs_per_s', 'p50_ms', 'p95_ms', 'errors')})}",
          flush=True)
    return result


def count_tickets(system: System) -> dict[str, Any]:
    """Tickets in the cases database against the people who confirmed their intake."""
    from sqlalchemy import text

    assert system.inbox is not None  # noqa: S101 - only ours has an inbox
    with system.inbox.engine.connect() as connection:
        per_person = dict(connection.execute(text(
            "SELECT p.sender_id, count(t.id) FROM tickets t JOIN persons p ON p.id = t.person_id "
            "GROUP BY p.sender_id")).all())
        unattached = connection.execute(text("SELECT count(*) FROM tickets WHERE person_id IS NULL")).scalar_one()
        by_channel = {f"{channel}/{language}": n for channel, language, n in connection.execute(text(
            "SELECT p.channel, t.language, count(t.id) FROM tickets t JOIN persons p ON p.id = t.person_id "
            "GROUP BY p.channel, t.language ORDER BY 1, 2")).all()}
    confirmed = {system.client.sender_id(p) for p in system.crowd.made if p.reached_ticket}
    return {
        "people": len(system.crowd.made),
        "confirmed_intake": len(confirmed),
        "tickets": sum(per_person.values()) + unattached,
        "confirmed_with_one_ticket": sum(1 for s in confirmed if per_person.get(s) == 1),
        "confirmed_without_ticket": sum(1 for s in confirmed if s not in per_person),
        "duplicates": sum(n - 1 for n in per_person.values() if n > 1),
        "tickets_of_unconfirmed": sum(n for s, n in per_person.items() if s not in confirmed) + unattached,
        "by_channel_language": by_channel,
    }


# --- the report -------------------------------------------------------------------------

def _tracker_p50(result: dict[str, Any], events: int) -> float | None:
    return next((r["p50_ms"] for r in result.get("tracker_length", []) if r["events_before"] == events), None)


def headline(ours: dict[str, Any], bare: dict[str, Any] | None) -> dict[str, Any]:
    at_10 = next((r for r in ours["open_loop"] if r["offered_msgs_per_s"] == 10), None)
    short, long = _tracker_p50(ours, 10), _tracker_p50(ours, 500)
    errors = ours["saturation"]["errors"] + sum(r["errors"] for r in ours["open_loop"])
    return {
        "saturation_msgs_per_s": ours["saturation"]["msgs_per_s"],
        "bare_rasa_saturation_msgs_per_s": bare["saturation"]["msgs_per_s"] if bare else None,
        "p95_ms_at_10_msgs_per_s": at_10["p95_ms"] if at_10 else None,
        "latency_ratio_500_vs_10_events": round(long / short, 2) if short and long else None,
        "rasa_peak_rss_mb": ours["rasa_peak_rss_mb"],
        "actions_peak_rss_mb": ours["actions_peak_rss_mb"],
        "cold_start_s": ours["cold_start_s"],
        "errors": errors,
        "scale_out_replicas": (ours.get("scale_out") or {}).get("replicas"),
        "scale_out_saturation_msgs_per_s": (ours.get("scale_out") or {}).get("msgs_per_s"),
    }


TARGETS = {
    "saturation_msgs_per_s": ">= 40 and >= 3x bare Rasa",
    "p95_ms_at_10_msgs_per_s": "<= 150, zero errors",
    "latency_ratio_500_vs_10_events": "<= 1.2",
    "rasa_peak_rss_mb": "<= 1000",
    "actions_peak_rss_mb": "<= 200",
    "cold_start_s": "<= 30",
    "errors": "0",
}
PATHS = {
    "ours": "signed WhatsApp and Telegram webhooks (half each) -> durable inbox -> Rasa (PostgreSQL tracker "
            "store, Redis lock store) -> action server (cases in PostgreSQL) -> outbound call at the fake "
            "Twilio/Telegram API; latency = POST to the first outbound call with text for that person",
    "bare_rasa": "REST channel (its only one): POST /webhooks/rest/webhook, latency = POST to the HTTP reply; "
                 "in-memory tracker store, no actions",
}


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _cpu(result: dict[str, Any]) -> str:
    return ", ".join(f"{name} {seconds}" for name, seconds in (result.get("cpu_s") or {}).items())


def markdown(report: dict[str, Any]) -> str:
    run = report["run"]
    lines = ["# Serving benchmark", "",
             f"Run {run['date']} with `make bench-serving` on {run['cpus']} CPUs (load average at start "
             f"{run['loadavg']}); {run['seconds_per_run']} s per load run, {run['people']} people in the closed "
             f"loop, answer timeout {run['timeout_s']} s{' (--quick)' if run.get('quick') else ''}. "
             "One Rasa server each, except ours' scale-out row (--replicas).", "", "Path measured:", ""]
    lines += [f"- **{name}**: {PATHS[name]}" for name in ("ours", "bare_rasa") if report.get(name)]
    lines += ["", "| figure | ours | bare Rasa | target |", "|---|---|---|---|"]
    bare = report.get("bare_rasa") or {}
    bare_head = headline(bare, None) if bare else {}
    for key, target in TARGETS.items():
        lines.append(f"| {key} | {_cell(report[key])} | {_cell(bare_head.get(key))} | {target} |")
    if report.get("scale_out_replicas"):
        lines.append(f"| saturation_msgs_per_s with {report['scale_out_replicas']} Rasa replicas (same machine) | "
                     f"{_cell(report['scale_out_saturation_msgs_per_s'])} | | |")
    for name in ("ours", "bare_rasa"):
        cold = (report.get(name) or {}).get("cold_start_cpu_s")
        if cold:
            lines += ["", f"CPU seconds of {name} from each process's start to the first answer: "
                          + ", ".join(f"{process} {seconds}" for process, seconds in cold.items()) + "."]
    tickets = (report.get("ours") or {}).get("tickets")
    if tickets:
        lines += ["", f"Tickets (SQL on the cases database at the end): {tickets['tickets']} for "
                      f"{tickets['confirmed_intake']} people who confirmed their intake "
                      f"({tickets['confirmed_with_one_ticket']} with exactly one, {tickets['confirmed_without_ticket']} "
                      f"without, {tickets['duplicates']} duplicates, {tickets['tickets_of_unconfirmed']} for people "
                      f"who had not confirmed); {tickets['people']} simulated people in all. By channel/language: "
                      + (", ".join(f"{k} {n}" for k, n in tickets["by_channel_language"].items()) or "none") + "."]
    ours = report.get("ours") or {}
    late = [r for r in [ours.get("saturation") or {}, *ours.get("open_loop", []), *ours.get("tracker_length", [])]
            if r.get("backlog_at_start")]
    if late:
        lines += ["", f"Warning: {len(late)} run(s) of ours started with messages of the previous run still "
                      f"unfinished after {DRAIN_S} s (backlog_at_start in bench.json): their figures include it."]
    lines += ["", "## Open loop", "",
              "| system | offered msg/s | answered msg/s | p50 ms | p95 ms | p99 ms | errors | reply complete | CPU s |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name in ("ours", "bare_rasa"):
        for r in (report.get(name) or {}).get("open_loop", []):
            lines.append(f"| {name} | {r['offered_msgs_per_s']} | {r['msgs_per_s']} | {_cell(r['p50_ms'])} | "
                         f"{_cell(r['p95_ms'])} | {_cell(r['p99_ms'])} | {r['errors']} | "
                         f"{_cell(r.get('complete_share'))} | {_cpu(r)} |")
    lines += ["", "## Saturation (closed loop)", "",
              "| system | people | msg/s | p50 ms | p95 ms | p99 ms | errors | reply complete | CPU s |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name in ("ours", "bare_rasa"):
        s = (report.get(name) or {}).get("saturation")
        if s:
            lines.append(f"| {name} | {s['people']} | {s['msgs_per_s']} | {_cell(s['p50_ms'])} | {_cell(s['p95_ms'])} | "
                         f"{_cell(s['p99_ms'])} | {s['errors']} | {_cell(s.get('complete_share'))} | {_cpu(s)} |")
    scaled = (report.get("ours") or {}).get("scale_out")
    if scaled:
        s = scaled
        lines.append(f"| ours, {s['replicas']} Rasa replicas | {s['people']} | {s['msgs_per_s']} | {_cell(s['p50_ms'])} | "
                     f"{_cell(s['p95_ms'])} | {_cell(s['p99_ms'])} | {s['errors']} | "
                     f"{_cell(s.get('complete_share'))} | {_cpu(s)} |")
        lines += ["", f"The last row: after the other runs, {s['replicas'] - 1} more Rasa replica(s) joined the first "
                      "(same PostgreSQL, Redis and action server, same machine) and the webhooks went to each in turn."]
    ours_sat = (report.get("ours") or {}).get("saturation")
    if ours_sat:
        lines += ["", "Ours at saturation, by channel and by step of the conversation:", "",
                  "| part | answered | p50 ms | p95 ms |", "|---|---|---|---|"]
        for group in ("by_channel", "by_step"):
            for part, r in ours_sat.get(group, {}).items():
                lines.append(f"| {part} | {r['answered']} | {_cell(r['p50_ms'])} | {_cell(r['p95_ms'])} |")
    lines += ["", "## Tracker length", "", "| system | events before | events after | p50 ms | p95 ms | CPU s |",
              "|---|---|---|---|---|---|"]
    for name in ("ours", "bare_rasa"):
        for r in (report.get(name) or {}).get("tracker_length", []):
            lines.append(f"| {name} | {r['events_before']} | {r['events_after']} | {_cell(r['p50_ms'])} | "
                         f"{_cell(r.get('p95_ms'))} | {_cpu(r)} |")
    lines += ["", "## Peak resident memory (VmHWM, MB, with children)", "", "| system | process | MB |", "|---|---|---|"]
    for name in ("ours", "bare_rasa"):
        for process, mb in ((report.get(name) or {}).get("peak_rss_mb") or {}).items():
            lines.append(f"| {name} | {process} | {_cell(mb)} |")
    for name in ("ours", "bare_rasa"):
        soaked = (report.get(name) or {}).get("soak")
        if not soaked:
            continue
        processes = [k.removesuffix("_rss_mb") for k in soaked["rss"][0] if k.endswith("_rss_mb")]
        lines += ["", f"## Soak ({name}): resident memory (VmRSS, MB) every {SOAK_SAMPLE_EVERY} messages", "",
                  f"{soaked['sent']} messages, {soaked['msgs_per_s']} msg/s, p95 {soaked['p95_ms']} ms, "
                  f"{soaked['errors']} errors; growth from message {soaked['rss_growth_from_messages']} to the end: "
                  + ", ".join(f"{p} {mb} MB" for p, mb in soaked["rss_growth_mb_after_first_1000"].items()), "",
                  "| messages | " + " | ".join(processes) + " |", "|---|" + "---|" * len(processes)]
        for s in soaked["rss"]:
            lines.append(f"| {s['messages']} | " + " | ".join(_cell(s[f'{p}_rss_mb']) for p in processes) + " |")
    lines += ["", "![latency against load](bench.png)", ""]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for name, colour in (("ours", "tab:blue"), ("bare_rasa", "tab:orange")):
        runs = [r for r in (report.get(name) or {}).get("open_loop", []) if r["p50_ms"] is not None]
        if not runs:
            continue
        label = "ours (WhatsApp/Telegram)" if name == "ours" else "bare Rasa (REST)"
        rates = [r["offered_msgs_per_s"] for r in runs]
        axis.plot(rates, [r["p50_ms"] for r in runs], "o-", color=colour, label=f"{label} p50")
        axis.plot(rates, [r["p95_ms"] for r in runs], "s--", color=colour, label=f"{label} p95")
    axis.set_xlabel("offered load (messages/s, open loop)")
    axis.set_ylabel("latency (ms)")
    axis.set_yscale("log")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    axis.set_title("Latency against load: ours vs bare Rasa")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


FULL = {"seconds": 20.0, "people": 48, "rates": [2.0, 5.0, 10.0, 20.0], "turns": 20, "warmup": 5.0}
QUICK = {"seconds": 4.0, "people": 4, "rates": [2.0, 5.0], "turns": 3, "warmup": 2.0}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, help=f"duration of each load run ({FULL['seconds']:g})")
    parser.add_argument("--people", type=int, help=f"simulated people in the closed loop ({FULL['people']})")
    parser.add_argument("--rates", type=float, nargs="+", help="open-loop rates (2 5 10 20)")
    parser.add_argument("--turns", type=int, help=f"messages per tracker-length probe ({FULL['turns']})")
    parser.add_argument("--warmup", type=float, help=f"seconds of closed-loop warm-up ({FULL['warmup']:g})")
    parser.add_argument("--timeout", type=float, default=30, help="seconds before a message counts as unanswered")
    parser.add_argument("--soak", type=int, default=0, metavar="N",
                        help="also send N messages and sample memory every 1,000 (e.g. 10000)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 4 s per run, 4 people, rates 2 and 5, 3 turns per probe "
                             "(options given explicitly still win)")
    parser.add_argument("--skip-bare", action="store_true", help="measure only ours")
    parser.add_argument("--replicas", type=int, default=2,
                        help="Rasa replicas for ours' scale-out saturation run (1: skip it; default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the logs in the temporary folder")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from devtools.train import ensure_model

    model = ensure_model(quiet=True)
    scripts = load_scripts()
    workdir = Path(tempfile.mkdtemp(prefix="oss-bench-"))
    report: dict[str, Any] = {"run": {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                      "cpus": os.cpu_count(), "loadavg": round(os.getloadavg()[0], 2),
                                      "seconds_per_run": args.seconds, "people": args.people,
                                      "timeout_s": args.timeout, "quick": args.quick, "soak": args.soak},
                              "paths": {}}
    with running_ours(model, workdir, scripts, args.timeout) as ours:
        report["ours"] = measure(ours, args)
    report["paths"]["ours"] = PATHS["ours"]
    if not args.skip_bare:
        bare = start_bare(bare_model(workdir), workdir, args.timeout)
        try:
            report["bare_rasa"] = measure(bare, args)
        finally:
            bare.stop()
        report["paths"]["bare_rasa"] = PATHS["bare_rasa"]
    report.update(headline(report["ours"], report.get("bare_rasa")))
    report["error_kinds"] = _error_kinds(report["ours"])
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    (REPORTS / "bench.md").write_text(markdown(report))
    plot(report, REPORTS / "bench.png")
    print(markdown(report))
    if args.keep:
        print(f"bench: logs in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _error_kinds(result: dict[str, Any]) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for run in [result["saturation"], *result["open_loop"]]:
        for kind, count in run.get("error_kinds", {}).items():
            kinds[kind] = kinds.get(kind, 0) + count
    return kinds


if __name__ == "__main__":
    sys.exit(main())
