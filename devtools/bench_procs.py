"""CPU time and memory of the processes under test, from /proc (Linux).

A process counts with its live descendants; CPU time includes the children it has already
waited for (cutime/cstime), so a PostgreSQL server's finished backends are not lost.
"""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Live descendants of `pid`, depth first."""
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    kids = [int(p) for p in found]
    return kids + [g for k in kids for g in children(k)]


def stat_cpu_seconds(stat: str, with_children: bool = True) -> float:
    """utime+stime (+cutime+cstime) of one /proc/<pid>/stat line, in seconds."""
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces and ")"
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime + (cutime + cstime if with_children else 0)) / TICKS


def cpu_seconds(pid: int, with_children: bool = True) -> float:
    """CPU seconds used so far by `pid` (and, with_children, by its descendants)."""
    total = 0.0
    for one in [pid, *(children(pid) if with_children else [])]:
        try:
            total += stat_cpu_seconds(Path(f"/proc/{one}/stat").read_text(), with_children)
        except (OSError, IndexError, ValueError):
            continue
    return round(total, 2)


def status_kb(status: str, key: str) -> int:
    """A `VmHWM:`/`VmRSS:` value of one /proc/<pid>/status text, in kB (0 when absent)."""
    for line in status.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def memory_mb(pid: int, key: str = "VmHWM") -> float | None:
    """`key` (VmHWM: peak resident, VmRSS: resident now) of `pid` and its descendants, in MB."""
    total, seen = 0, False
    for one in [pid, *children(pid)]:
        try:
            total += status_kb(Path(f"/proc/{one}/status").read_text(), key)
            seen = True
        except OSError:
            continue
    return round(total / 1024, 1) if seen else None


class CpuMeter:
    """CPU seconds per named process over one run: `start()`, then `stop()` gives the deltas."""

    def __init__(self, pids: dict[str, int], self_name: str = "load_generator") -> None:
        self.pids = pids
        self.self_name = self_name
        self._before: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        now = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        # The bench itself without its children (they are the servers measured above).
        now[self.self_name] = cpu_seconds(os.getpid(), with_children=False)
        return now

    def start(self) -> None:
        self._before = self._now()

    def stop(self) -> dict[str, float]:
        after = self._now()
        return {name: round(after[name] - self._before.get(name, 0.0), 2) for name in after}
