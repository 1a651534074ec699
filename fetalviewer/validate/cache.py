"""Resumable per-image cache of a validation run: one JSON line per image, appended as images finish.

The first line holds the run's key (job, model sha256, device, precision, code version); a file with
another key is started afresh, so results of other weights are never mixed in. A line cut short by an
interruption is ignored on reading (that image is computed again). The cache is the only file a run
writes while it goes; the reports are written atomically at the end.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fetalviewer.atomic import write_text_atomic


class ImageCache:
    def __init__(self, path: str | Path, key: dict[str, Any]) -> None:
        self.path = Path(path)
        self.key = json.loads(json.dumps(key))  # plain JSON types, as read back
        self._items: dict[str, dict[str, Any]] = {}
        self._load()

    def _load(self) -> None:
        lines: list[str] = []
        if self.path.is_file():
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        header = _parse(lines[0]) if lines else None
        if header is None or header.get("key") != self.key:
            write_text_atomic(self.path, json.dumps({"key": self.key}) + "\n")
            return
        for line in lines[1:]:
            rec = _parse(line)
            if rec is not None and isinstance(rec.get("image"), str):
                self._items[rec["image"]] = rec
        # rewrite when a torn line was dropped, so the next append starts on a clean line
        if lines and not self.path.read_bytes().endswith(b"\n"):
            write_text_atomic(
                self.path,
                "".join(json.dumps(x) + "\n" for x in [{"key": self.key}, *self._items.values()]),
            )

    def __len__(self) -> int:
        return len(self._items)

    def get(self, image: str) -> dict[str, Any] | None:
        return self._items.get(image)

    def put_many(self, records: list[dict[str, Any]]) -> None:
        """Append records (each with an ``image`` key) and flush them to disk."""
        if not records:
            return
        text = "".join(json.dumps(r) + "\n" for r in records)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        for r in records:
            self._items[r["image"]] = r


def _parse(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
