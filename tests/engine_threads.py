"""The native read engine's threads in this process (tokio names its workers
`audiodecode-io`; /proc sees them even when Python's threading does not)."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def _task_name(task: str) -> str:
    try:
        return Path(f"/proc/self/task/{task}/comm").read_text()
    except (FileNotFoundError, ProcessLookupError):
        # The thread ended while we listed them: its folder is gone, or still
        # there with nothing behind it (ESRCH on read).
        return ""


def engine_threads() -> int:
    return sum(t.name.startswith("audiodecode-io") for t in threading.enumerate()) + sum(
        _task_name(task).startswith("audiodecode-io") for task in os.listdir("/proc/self/task")
    )
