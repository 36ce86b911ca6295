"""The capture's local append-only spool: nothing received is lost between the socket and the lake.

Layout under the spool folder (one folder per capture id):
  open/seg-{ns}-{YYYYMMDD}.jsonl   the segment being appended to (envelope lines, SPEC §5); the
                                   trading date it belongs to is in its name
  sealed/{key with '/' as '~'}     a closed, fsync'd segment waiting for the lake; its name IS the
                                   lake key it will be written to, decided once when sealed

Every received line is written to the open segment at once (one `os.write`, so a kill -9 of the
process loses nothing the kernel has; `fsync` every `fsync_interval` — at most a second — covers a
power loss). A segment is sealed (fsync, rename into sealed/, fsync of the folder) when it reaches
the batch limits; only sealed, i.e. fsync'd, lines are handed to the lake ("acknowledged"). After
the lake write succeeds the sealed file is deleted. A process killed at any moment leaves open or
sealed segments; `recover()` on the next start seals the open ones (dropping a torn last line that
has no newline: it was never complete) and the uploader writes every sealed one. Writing a sealed
segment twice (killed between the lake write and the delete) writes the same key with the same
bytes: idempotent.

Object key (issue 18): `raw_lt/{Y}/{M}/{D}/{HH}/{first_ms}_{capture_id}_{count}.jsonl` where
{HH} is the UTC hour of the first line's trade time on the captured trading date; the folder is
that UTC hour, so `keys.trade_date_of_raw_key` gives back the trading date (during every IDX
session hour the folder's {Y}/{M}/{D} is the trading date itself). {first_ms} is the first line's
receive time in ms, raised when needed so that no two objects of one capture share a key.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from orderflow_pipeline.sources.ipot.protocol import trade_seconds
from orderflow_pipeline.storage.keys import WIB

log = logging.getLogger("orderflow.capture.spool")

CAPTURE_ID_RE = re.compile(r"^[A-Za-z0-9.-]{1,64}$")
_SEG_RE = re.compile(r"^seg-(\d+)-(\d{8})\.jsonl$")
_KEY_NAME_RE = re.compile(r"^(\d+)_([A-Za-z0-9.-]+)_(\d+)\.jsonl$")


def open_segment_date(name: str) -> date | None:
    """The trading date an open segment's file name carries (None: not an open segment); the
    live journal tails these files, so it reads their names through here."""
    m = _SEG_RE.match(name)
    return datetime.strptime(m[2], "%Y%m%d").date() if m else None


def sealed_name(key: str) -> str:
    """The file name in sealed/ of a segment waiting to be uploaded as lake object `key`."""
    return key.replace("/", "~")


def sealed_key(name: str) -> str | None:
    """The lake key a sealed/ file waits to be uploaded as (None: not a sealed segment)."""
    return name.replace("~", "/") if name.startswith("raw_lt~") and name.endswith(".jsonl") else None


def check_capture_id(cid: str) -> str:
    if not CAPTURE_ID_RE.match(cid):
        raise ValueError(f"capture id {cid!r} must match {CAPTURE_ID_RE.pattern} (letters, digits, '.', '-')")
    return cid


def envelope(line: str, ts_ms: int) -> bytes:
    """The SPEC §5 envelope of one received trade line."""
    return json.dumps(
        {"v": 2, "fmt": "pipe", "src": "ipot_ws", "raw": line, "ts": ts_ms, "ts_quality": "ingestion"},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def object_key(d: date, data: bytes, capture_id: str, min_ms: int = 0) -> tuple[str, int]:
    """(lake key, first_ms) of a segment's bytes for trading date d (module docstring)."""
    lines = data.split(b"\n")[:-1]
    first = json.loads(lines[0])
    first_ms = max(int(first.get("ts", 0)), min_ms)
    sec: int | None = None
    for raw_line in lines:
        try:
            raw = json.loads(raw_line).get("raw")
        except ValueError:
            continue
        if isinstance(raw, str) and (sec := trade_seconds(raw)) is not None:
            break
    if sec is None:  # no readable trade time: the receive time of day on the trading date
        sec = (first_ms // 1000 + 7 * 3600) % 86_400
    hour = (datetime(d.year, d.month, d.day, tzinfo=WIB) + timedelta(seconds=sec)).astimezone(timezone.utc)
    return f"raw_lt/{hour:%Y/%m/%d/%H}/{first_ms}_{capture_id}_{len(lines)}.jsonl", first_ms


def bump_key(key: str) -> str:
    """The same key with first_ms + 1 (a collision with a different object)."""
    folder, _, name = key.rpartition("/")
    m = _KEY_NAME_RE.match(name)
    if not m:
        raise ValueError(f"not a capture key: {key}")
    return f"{folder}/{int(m[1]) + 1}_{m[2]}_{m[3]}.jsonl"


@dataclass
class Sealed:
    path: Path
    key: str


class Spool:
    def __init__(self, root: Path, capture_id: str) -> None:
        self.root = Path(root)
        self.capture_id = check_capture_id(capture_id)
        self.open_dir = self.root / "open"
        self.sealed_dir = self.root / "sealed"
        self.open_dir.mkdir(parents=True, exist_ok=True)
        self.sealed_dir.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = None
        self._path: Path | None = None
        self._date: date | None = None
        self._dirty = False
        self.lines = 0  # in the open segment
        self.bytes = 0
        self.opened_at = 0.0  # monotonic
        self.last_fsync = time.monotonic()
        self._last_ms = 0

    # -- appending -----------------------------------------------------------------------------
    @property
    def open_date(self) -> date | None:
        return self._date if self._fd is not None else None

    def append(self, d: date, data: bytes, n: int) -> None:
        """Write n envelope lines (`data`, each ending in a newline) of trading date d."""
        if self._fd is not None and self._date != d:
            self.seal()
        if self._fd is None:
            self._path = self.open_dir / f"seg-{time.time_ns()}-{d:%Y%m%d}.jsonl"
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._date = d
            self.opened_at = time.monotonic()
            self.lines = self.bytes = 0
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self.lines += n
        self.bytes += len(data)
        self._dirty = True

    def fsync(self) -> None:
        if self._fd is not None and self._dirty:
            os.fsync(self._fd)
            self._dirty = False
        self.last_fsync = time.monotonic()

    def seal(self) -> Sealed | None:
        """Close the open segment into sealed/ (no-op when there is none or it is empty)."""
        if self._fd is None or self._path is None or self._date is None:
            return None
        self.fsync()
        os.close(self._fd)
        path, d = self._path, self._date
        self._fd = self._path = self._date = None
        return self._seal_file(path, d)

    def _seal_file(self, path: Path, d: date) -> Sealed | None:
        data = path.read_bytes()
        if not data.endswith(b"\n"):  # a torn last line (killed mid-write): never complete
            cut = data.rfind(b"\n") + 1
            log.warning("spool %s: dropping a torn last line of %d bytes", path.name, len(data) - cut)
            data = data[:cut]
        if not data:
            path.unlink(missing_ok=True)
            return None
        key, first_ms = object_key(d, data, self.capture_id, self._last_ms + 1)
        self._last_ms = first_ms
        target = self.sealed_dir / sealed_name(key)
        if len(data) != path.stat().st_size:
            tmp = path.with_suffix(".cut")
            tmp.write_bytes(data)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        os.replace(path, target)
        self._fsync_dir(self.sealed_dir)
        self._fsync_dir(self.open_dir)
        return Sealed(target, key)

    @staticmethod
    def _fsync_dir(folder: Path) -> None:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- recovery and the lake side ------------------------------------------------------------
    def recover(self) -> int:
        """Seal the open segments a previous process left; returns how many lines they held."""
        n = 0
        for p in sorted(self.open_dir.iterdir()):
            d = open_segment_date(p.name)
            if d is None:
                continue
            s = self._seal_file(p, d)
            if s is not None:
                n += s.path.read_bytes().count(b"\n")
        return n

    def sealed(self) -> list[Sealed]:
        out = []
        for p in sorted(self.sealed_dir.iterdir()):
            if (key := sealed_key(p.name)) is not None:
                out.append(Sealed(p, key))
        return out

    def rekey(self, s: Sealed) -> Sealed:
        key = bump_key(s.key)
        target = self.sealed_dir / sealed_name(key)
        os.replace(s.path, target)
        return Sealed(target, key)

    def size(self) -> tuple[int, int]:
        """(bytes, segments) waiting in the spool (open + sealed)."""
        total = segs = 0
        for folder in (self.open_dir, self.sealed_dir):
            for p in folder.iterdir():
                try:
                    total += p.stat().st_size
                    segs += 1
                except FileNotFoundError:
                    continue
        return total, segs

    def close(self) -> None:
        if self._fd is not None:
            self.fsync()
            os.close(self._fd)
            self._fd = None
