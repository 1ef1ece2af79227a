"""The domain and the Python code agree, and every response speaks es, pt and en."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml
from rasa_sdk.executor import ActionExecutor

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = {"es", "pt", "en"}


def load_domain() -> dict:
    merged: dict = {"responses": {}, "actions": [], "intents": [], "slots": {}}
    for path in sorted((ROOT / "domain").rglob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        merged["responses"].update(doc.get("responses") or {})
        merged["actions"] += [a if isinstance(a, str) else next(iter(a)) for a in doc.get("actions") or []]
        merged["intents"] += [i if isinstance(i, str) else next(iter(i)) for i in doc.get("intents") or []]
        merged["slots"].update(doc.get("slots") or {})
    return merged


def test_every_response_has_exactly_one_variation_per_language() -> None:
    for name, variations in load_domain()["responses"].items():
        languages = []
        for variation in variations:
            conditions = variation.get("condition") or []
            langs = [c["value"] for c in conditions if c.get("name") == "language"]
            assert langs, f"{name} has a variation without a language condition"
            languages += langs
        assert sorted(languages) == sorted(LANGUAGES), f"{name}: languages {languages}"


def test_variations_of_one_response_use_the_same_variables_and_buttons() -> None:
    for name, variations in load_domain()["responses"].items():
        variables = {frozenset(re.findall(r"{(\w+)}", v.get("text", ""))) for v in variations}
        assert len(variables) == 1, f"{name} variations use different variables: {variables}"
        payloads = {tuple(b["payload"] for b in v.get("buttons") or [] if b["payload"].startswith("/"))
                    for v in variations}
        assert len(payloads) == 1, f"{name} variations offer different buttons"


def _python_files() -> list[Path]:
    return sorted((ROOT / "bot" / "actions").rglob("*.py"))


def test_every_response_named_in_python_exists_in_the_domain() -> None:
    responses = set(load_domain()["responses"])
    used = set()
    for path in _python_files():
        used.update(re.findall(r"[\"'](utter_\w+)[\"']", path.read_text()))
    assert used, "no responses found in the actions"
    assert used <= responses, f"missing in domain: {sorted(used - responses)}"


def test_every_domain_action_is_registered_and_every_registered_action_is_in_the_domain() -> None:
    executor = ActionExecutor()
    executor.register_package("bot.actions")
    registered = set(executor.actions)
    declared = set(load_domain()["actions"])
    assert declared <= registered, f"declared but not registered: {sorted(declared - registered)}"
    assert registered <= declared, f"registered but not declared: {sorted(registered - declared)}"


def test_button_payloads_are_known_intents_or_plain_text() -> None:
    """A payload is `/intent` (no entities: Rasa's interpolation breaks on JSON braces)
    or plain text that goes through NLU like anything typed."""
    domain = load_domain()
    intents = set(domain["intents"])
    for name, variations in domain["responses"].items():
        for variation in variations:
            for button in variation.get("buttons") or []:
                payload = button["payload"]
                assert "{" not in payload.replace("{old}", "").replace("{new}", ""), f"{name}: {payload}"
                if payload.startswith("/"):
                    assert payload[1:] in intents, f"{name}: button payload names unknown intent {payload}"


def test_actions_are_thin_and_use_no_f_string_replies() -> None:
    for path in _python_files():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "utter_message":
                for keyword in node.keywords:
                    assert keyword.arg != "text" or not isinstance(keyword.value, ast.JoinedStr), (
                        f"{path.name}: user-facing text must come from the domain or knowledge/"
                    )
