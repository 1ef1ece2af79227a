"""Developer and operator tooling: setup helpers, training cache, local stack, chat, bench."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
