"""Quarantine files: every rejected row with its source line, the reason and the raw row (mode 0600)."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

COLUMNS = ("line", "reason", "raw")


class Quarantine:
    """Appends rejected rows to one CSV file, created on the first rejection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0

    def write(self, rows: Iterable[tuple[int, str, str]]) -> int:
        """Append ``(line, reason, raw)`` rows and flush them to disk; returns how many."""
        rows = list(rows)
        if not rows:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        # raw rows may hold PII (a rejected customer's e-mail): readable by the owner only
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            if new:
                w.writerow(COLUMNS)
            w.writerows(rows)
        self.count += len(rows)
        return len(rows)

    @property
    def written(self) -> bool:
        return self.path.exists()
