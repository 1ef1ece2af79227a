"""The rooms of ARCHITECTURE.md: who may import whom."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "knowledge": ["rasa", "rasa_sdk", "sqlalchemy", "channels", "casework", "bot", "console", "telegram", "twilio"],
    "casework": ["rasa", "rasa_sdk", "channels", "bot", "console", "telegram", "twilio"],
    "bot/actions": ["rasa", "channels", "console", "sqlalchemy"],
    "bot/conversation": ["rasa", "rasa_sdk", "channels", "console", "sqlalchemy"],
    "bot/nlu": ["channels", "console", "casework", "sqlalchemy", "knowledge"],
    # Rasa's production stores: Rasa and its storage libraries, nothing of the product.
    "bot/stores": ["channels", "console", "casework", "knowledge", "bot.actions", "bot.conversation"],
    "channels": ["knowledge", "bot", "console", "sqlalchemy"],
    # The console reaches knowledge/ and the database only through casework.
    "console": ["rasa", "rasa_sdk", "bot", "channels", "knowledge", "sqlalchemy"],
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def violates(module: str, forbidden: str) -> bool:
    return module == forbidden or module.startswith(forbidden + ".")


REQUIRED_ROOMS = ["knowledge", "casework", "bot/actions", "bot/nlu", "channels"]


def test_the_rooms_exist() -> None:
    missing = [room for room in REQUIRED_ROOMS if not list((ROOT / room).glob("*.py"))]
    assert not missing, f"missing rooms: {missing}"


@pytest.mark.parametrize("room", sorted(r for r in FORBIDDEN if (ROOT / r).is_dir()))
def test_room_imports_only_what_it_may(room: str) -> None:
    files = sorted((ROOT / room).rglob("*.py"))
    problems = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in files
        for module in imported_modules(path)
        for forbidden in FORBIDDEN[room]
        if violates(module, forbidden)
    ]
    assert not problems, "\n".join(problems)


def test_the_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import sqlalchemy.orm\nfrom rasa.core import agent\nimport rasa_sdk\n")
    modules = imported_modules(bad)
    assert violates("sqlalchemy.orm", "sqlalchemy")
    assert any(violates(m, "rasa") for m in modules)
    assert not violates("rasa_sdk", "rasa")
