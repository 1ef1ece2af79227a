"""A broken knowledge file stops the action server from starting (never half-served)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from knowledge.loader import DATA_DIR

ROOT = Path(__file__).resolve().parents[2]


def test_the_action_server_refuses_to_start_with_a_missing_translation(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    target = data / "phrases.yml"
    lines = [ln for ln in target.read_text(encoding="utf-8").splitlines() if not ln.strip().startswith("pt:")]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "bot.serve", "--port", "1"],
        cwd=ROOT, env={**os.environ, "KNOWLEDGE_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "not starting" in result.stderr
    assert "phrases.yml:" in result.stderr
    assert "no 'pt' text" in result.stderr
