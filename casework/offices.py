"""How each office is notified of a new ticket: configuration, loaded and validated.

The offices themselves (ids, countries, languages) are knowledge (`knowledge/data/network.yml`);
where their staff are told about a ticket is deployment configuration (`config/offices.yml`,
or the file OFFICES_CONFIG names). Loading checks one against the other: an id the network
does not know, or an office of the network without a target, is an error, so a ticket can
never be routed to an office nobody hears from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from casework.models import TARGET_KINDS
from knowledge.model import KnowledgeBase

LANGUAGES = ("es", "pt", "en")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TEMPLATE = re.compile(r"^HX[0-9a-f]{32}$")
_CHAT_ID = re.compile(r"^(-?\d+|@[A-Za-z0-9_]{5,})$")
MAX_FIRST_CONTACT_DAYS = 30


class OfficesConfigError(ValueError):
    """The offices configuration is unusable; the message lists every problem."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


@dataclass(frozen=True)
class NotifyTarget:
    """Where one office's staff hear about new tickets."""

    kind: str  # email | telegram | webhook
    target: str
    secret_env: str | None = None  # webhook: the variable holding the signing secret


@dataclass(frozen=True)
class OfficeNotification:
    office_id: str
    notify: NotifyTarget
    languages: tuple[str, ...]  # the staff's languages, first one used for the notification
    # The approved WhatsApp template (Twilio content SID) the console offers outside the 24-hour window.
    whatsapp_template: str | None = None
    # Within how many working days the office contacts a person whose case it received, as
    # the office has committed to; None: the assistant promises no delay.
    first_contact_days: int | None = None


@dataclass(frozen=True)
class OfficesConfig:
    offices: Mapping[str, OfficeNotification]

    def __getitem__(self, office_id: str) -> OfficeNotification:
        try:
            return self.offices[office_id]
        except KeyError:
            raise KeyError(f"office {office_id!r} has no notification target") from None


def load_offices_config(path: Path, *, kb: KnowledgeBase) -> OfficesConfig:
    """Read and validate the offices file at `path` against the knowledge base's offices."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise OfficesConfigError(path, [f"cannot read the file ({error.strerror}); set OFFICES_CONFIG"]) from None
    except yaml.YAMLError as error:
        raise OfficesConfigError(path, [f"not valid YAML: {error}"]) from None
    return parse_offices_config(doc, kb=kb, path=path)


def parse_offices_config(doc: Any, *, kb: KnowledgeBase, path: Path = Path("<offices>")) -> OfficesConfig:
    """Validate an already parsed document (tests build one in memory)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("offices"), dict):
        raise OfficesConfigError(path, ["expected a top-level 'offices:' mapping of office id -> settings"])
    known = {office.id: office for office in kb.offices}
    problems: list[str] = []
    offices: dict[str, OfficeNotification] = {}
    for office_id, entry in doc["offices"].items():
        if office_id not in known:
            problems.append(f"unknown office id {office_id!r} (not in knowledge/data/network.yml)")
            continue
        parsed = _office(str(office_id), entry, default_languages=known[office_id].languages, problems=problems)
        if parsed is not None:
            offices[office_id] = parsed
    missing = sorted(set(known) - set(doc["offices"]))
    if missing:
        problems.append(f"no notification target for {', '.join(missing)}")
    if problems:
        raise OfficesConfigError(path, problems)
    return OfficesConfig(offices=offices)


def _office(office_id: str, entry: Any, *, default_languages: tuple[str, ...], problems: list[str]) -> OfficeNotification | None:
    where = f"{office_id}:"
    if not isinstance(entry, dict) or not isinstance(entry.get("notify"), dict):
        problems.append(f"{where} expected 'notify: {{kind: ..., target: ...}}'")
        return None
    unknown_keys = set(entry) - {"notify", "languages", "whatsapp_template", "first_contact_days"}
    if unknown_keys:
        problems.append(f"{where} unknown keys {sorted(unknown_keys)}")
    notify = entry["notify"]
    kind, target, secret_env = notify.get("kind"), notify.get("target"), notify.get("secret_env")
    count = len(problems)
    if kind not in TARGET_KINDS:
        problems.append(f"{where} notify.kind {kind!r} is not one of {', '.join(TARGET_KINDS)}")
    if not isinstance(target, str | int) or not str(target).strip():
        problems.append(f"{where} notify.target is missing")
    else:
        target = str(target).strip()
        if kind == "email" and not _EMAIL.match(target):
            problems.append(f"{where} notify.target {target!r} is not an e-mail address")
        if kind == "telegram" and not _CHAT_ID.match(target):
            problems.append(f"{where} notify.target {target!r} is not a Telegram chat id")
        if kind == "webhook" and not target.startswith(("https://", "http://")):
            problems.append(f"{where} notify.target {target!r} is not an http(s) URL")
    if kind == "webhook":
        if not isinstance(secret_env, str) or not _ENV_NAME.match(secret_env):
            problems.append(f"{where} a webhook needs notify.secret_env, the NAME of the variable holding its secret")
    elif secret_env is not None:
        problems.append(f"{where} notify.secret_env is only for webhooks")
    languages = entry.get("languages", list(default_languages))
    if not isinstance(languages, list) or not languages or any(lang not in LANGUAGES for lang in languages):
        problems.append(f"{where} languages must be a non-empty list of {', '.join(LANGUAGES)}")
    template = entry.get("whatsapp_template")
    if template is not None and (not isinstance(template, str) or not _TEMPLATE.match(template)):
        problems.append(f"{where} whatsapp_template must be a Twilio content SID (HX followed by 32 hex digits)")
    days = entry.get("first_contact_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_FIRST_CONTACT_DAYS):
        problems.append(f"{where} first_contact_days must be a whole number of working days from 1 to "
                        f"{MAX_FIRST_CONTACT_DAYS}")
    if len(problems) > count:
        return None
    return OfficeNotification(
        office_id=office_id,
        notify=NotifyTarget(kind=str(kind), target=str(target), secret_env=secret_env),
        languages=tuple(languages),
        whatsapp_template=template,
        first_contact_days=days,
    )
