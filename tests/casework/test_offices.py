"""The offices' notification targets: configuration checked against the network."""

from __future__ import annotations

from pathlib import Path

import pytest

from casework.offices import OfficesConfigError, load_offices_config, parse_offices_config
from casework.settings import Settings
from knowledge.loader import knowledge_base

ROOT = Path(__file__).resolve().parents[2]


def default_doc() -> dict:
    return {"offices": {o.id: {"notify": {"kind": "email", "target": f"{o.id}@notify.invalid"}} for o in knowledge_base().offices}}


def test_the_shipped_file_covers_all_13_offices_with_placeholders() -> None:
    config = load_offices_config(Settings().offices_config_path, kb=knowledge_base())
    assert len(config.offices) == 13
    assert all(o.notify.kind == "email" and o.notify.target.endswith("@notify.invalid") for o in config.offices.values())
    assert config["eu-pt"].languages == ("pt", "es")  # from network.yml
    assert "OFFICES_CONFIG" in (ROOT / "config" / "offices.yml").read_text(encoding="utf-8")


def test_offices_config_path_comes_from_the_environment(tmp_path: Path) -> None:
    assert Settings.from_env({"OFFICES_CONFIG": str(tmp_path / "o.yml")}).offices_config_path == tmp_path / "o.yml"


def test_an_unknown_office_id_is_an_error() -> None:
    doc = default_doc()
    doc["offices"]["oss-ar"] = {"notify": {"kind": "email", "target": "a@notify.invalid"}}
    with pytest.raises(OfficesConfigError, match="unknown office id 'oss-ar'"):
        parse_offices_config(doc, kb=knowledge_base())


def test_a_missing_office_is_an_error() -> None:
    doc = default_doc()
    del doc["offices"]["eu-it"]
    with pytest.raises(OfficesConfigError, match="no notification target for eu-it"):
        parse_offices_config(doc, kb=knowledge_base())


@pytest.mark.parametrize(("notify", "message"), [
    ({"kind": "fax", "target": "123"}, "not one of"),
    ({"kind": "email", "target": "not-an-address"}, "not an e-mail"),
    ({"kind": "telegram", "target": "staff chat"}, "not a Telegram chat id"),
    ({"kind": "webhook", "target": "ftp://x", "secret_env": "S"}, "not an http"),
    ({"kind": "webhook", "target": "https://x.invalid/hook"}, "needs notify.secret_env"),
    ({"kind": "email", "target": "a@notify.invalid", "secret_env": "S"}, "only for webhooks"),
])
def test_bad_targets_are_errors(notify: dict, message: str) -> None:
    doc = default_doc()
    doc["offices"]["oss-pe"] = {"notify": notify}
    with pytest.raises(OfficesConfigError, match=message):
        parse_offices_config(doc, kb=knowledge_base())


def test_telegram_and_webhook_targets_and_languages() -> None:
    doc = default_doc()
    doc["offices"]["oss-br"] = {"notify": {"kind": "telegram", "target": -1001234567890}, "languages": ["pt"]}
    doc["offices"]["eu-pt"] = {"notify": {"kind": "webhook", "target": "https://cases.invalid/h", "secret_env": "EU_PT_SECRET"}}
    config = parse_offices_config(doc, kb=knowledge_base())
    assert config["oss-br"].notify.target == "-1001234567890"
    assert config["eu-pt"].notify.secret_env == "EU_PT_SECRET"


def test_an_office_may_commit_to_a_first_contact_delay_in_working_days() -> None:
    doc = default_doc()
    doc["offices"]["oss-pe"]["first_contact_days"] = 3
    config = parse_offices_config(doc, kb=knowledge_base())
    assert config["oss-pe"].first_contact_days == 3
    assert config["oss-bo"].first_contact_days is None  # no commitment: nothing promised
    assert load_offices_config(Settings().offices_config_path, kb=knowledge_base())["oss-pe"].first_contact_days is None


@pytest.mark.parametrize("days", [0, 31, "3", 2.5, True])
def test_a_first_contact_delay_that_is_not_1_to_30_working_days_is_an_error(days: object) -> None:
    doc = default_doc()
    doc["offices"]["oss-pe"]["first_contact_days"] = days
    with pytest.raises(OfficesConfigError, match="first_contact_days must be a whole number of working days"):
        parse_offices_config(doc, kb=knowledge_base())


def test_an_unreadable_file_says_which_variable_to_set(tmp_path: Path) -> None:
    with pytest.raises(OfficesConfigError, match="OFFICES_CONFIG"):
        load_offices_config(tmp_path / "missing.yml", kb=knowledge_base())
