"""Which topic x country cells the knowledge base fills (the coverage report)."""

from __future__ import annotations

from knowledge.model import ORIGIN_TOPICS, RESIDENCE_TOPICS, KnowledgeBase


def coverage(kb: KnowledgeBase) -> dict[str, dict[str, int]]:
    """{country: {topic: number of entries}} for the cells the network must cover."""
    table: dict[str, dict[str, int]] = {}
    for code, topics in [(c, ORIGIN_TOPICS) for c in kb.origin] + [(c, RESIDENCE_TOPICS) for c in kb.residence]:
        row = {topic: sum(1 for e in kb.entries if e.topic == topic and code in e.countries) for topic in topics}
        row["oss_contact"] = sum(1 for o in kb.offices if o.country == code)
        row["safety"] = len(kb.safety[code].lines) + 1 if code in kb.safety else 0
        table[code] = row
    return table


def missing_cells(kb: KnowledgeBase) -> list[str]:
    return [f"{code}/{topic}" for code, row in coverage(kb).items() for topic, n in row.items() if n == 0]


def coverage_markdown(kb: KnowledgeBase) -> str:
    table = coverage(kb)
    lines = []
    for title, codes, topics in (
        ("Origin countries", kb.origin, ORIGIN_TOPICS),
        ("Residence countries", kb.residence, RESIDENCE_TOPICS),
    ):
        columns = [*topics, "oss_contact", "safety"]
        lines += [f"### {title}", "", "| country | " + " | ".join(columns) + " |",
                  "|---|" + "---|" * len(columns)]
        for code in codes:
            lines.append(f"| {code} | " + " | ".join(str(table[code][c]) for c in columns) + " |")
        lines.append("")
    general = sum(1 for e in kb.entries if not e.countries)
    lines.append(f"General entries (all countries): {general}. Total entries: {len(kb.entries)}.")
    return "\n".join(lines)
