"""`make check-knowledge [ARGS=--report]`: validate the knowledge base, optionally report coverage."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from knowledge.coverage import coverage_markdown, missing_cells
from knowledge.loader import DATA_DIR, KnowledgeError, load_knowledge


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    parser.add_argument("--report", action="store_true", help="write reports/knowledge_coverage.md")
    args = parser.parse_args(argv)
    try:
        kb = load_knowledge(args.data)
    except KnowledgeError as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        print(f"check-knowledge: {len(exc.errors)} error(s)", file=sys.stderr)
        return 1
    gaps = missing_cells(kb)
    if gaps:
        print("check-knowledge: cells with no content: " + ", ".join(gaps), file=sys.stderr)
        return 1
    print(f"check-knowledge: ok ({len(kb.entries)} entries, {len(kb.offices)} offices, "
          f"{len(kb.safety)} countries with safety lines)")
    if args.report:
        out = Path(__file__).resolve().parent.parent / "reports" / "knowledge_coverage.md"
        out.parent.mkdir(exist_ok=True)
        out.write_text("# Knowledge coverage (entries per topic and country)\n\n" + coverage_markdown(kb) + "\n")
        print(f"check-knowledge: wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
