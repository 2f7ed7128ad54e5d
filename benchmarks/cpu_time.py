"""CPU seconds of a process, for the benchmarks that report what a run cost
the loader's process and a server's child process beside the wall time.

Free of imports that touch `sys.path` (unlike `common.py`), so a child
process running another build of the package can use it too."""

from __future__ import annotations

import os


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of process `pid` (None: this one), all its threads."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
