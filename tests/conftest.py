"""Fixtures shared by several rooms' tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from devtools.stack import Stack, free_port, make_stack
from devtools.train import ensure_model

ROOT = Path(__file__).resolve().parent.parent
# Offices that committed to contacting people within some working days (config/offices.yml
# `first_contact_days`); the others promise nothing. The intake conversations check both.
FIRST_CONTACT_DAYS = {"oss-pe": 3, "oss-br": 1}


def offices_with_commitments(workdir: Path) -> Path:
    """The shipped offices file with FIRST_CONTACT_DAYS set, as an operator's copy would be."""
    doc = yaml.safe_load((ROOT / "config" / "offices.yml").read_text(encoding="utf-8"))
    for office_id, days in FIRST_CONTACT_DAYS.items():
        doc["offices"][office_id]["first_contact_days"] = days
    path = workdir / "offices.yml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The real action server and Rasa server on free ports, started once per test session.

    Shared by the conversation tests and the console's live handoff and browser tests, so
    a test run never holds two Rasa servers (about 1 GB each) at once.
    """
    model = ensure_model(quiet=True)
    workdir = tmp_path_factory.mktemp("stack")
    running = make_stack(model, free_port(), free_port(), workdir,
                         extra_env={"OFFICES_CONFIG": str(offices_with_commitments(workdir))})
    try:
        running.start()
    except Exception:
        running.stop()
        logs = "\n".join(p.read_text()[-3000:] for p in (workdir / "logs").glob("*.log"))
        raise RuntimeError(f"the stack did not start:\n{logs}") from None
    yield running
    running.stop()
