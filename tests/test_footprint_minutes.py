"""The completeness check's per-file minutes state: same answer as reading every file, and only
files whose fingerprint changed are read again (local folder and moto S3)."""

from __future__ import annotations

from datetime import date, datetime, timezone

from orderflow_pipeline.layers.footprint import minutes as footprint_minutes
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.inventory import footprint_objects
from orderflow_pipeline.storage.lake import Lake

D = date(2026, 2, 18)
H2 = datetime(2026, 2, 18, 2, tzinfo=timezone.utc)  # 09:00 WIB
T0 = int(H2.timestamp() * 1000)


def _file(*minutes: int) -> bytes:
    return b"".join(b'{"t0":%d,"o":1}\n' % (T0 + m * 60_000) for m in minutes)


def test_minutes_match_the_files_and_follow_changes(any_lake: Lake) -> None:
    a, b = keys.footprint_key("AAAA", H2), keys.footprint_key("BBBB", H2)
    any_lake.write_bytes(a, _file(0, 1, 2))
    any_lake.write_bytes(b, _file(5) + b'{"t0":%d}\n' % (T0 + 1))  # a t0 that is not a whole minute
    want = {"AAAA": {T0, T0 + 60_000, T0 + 120_000}, "BBBB": {T0 + 300_000}}
    got = footprint_minutes.minutes_by_ticker(any_lake, D, footprint_objects(any_lake, D))
    assert got == want
    state = any_lake.read_bytes(footprint_minutes.key(D))

    # Unchanged: the state answers, and is not rewritten.
    assert footprint_minutes.minutes_by_ticker(any_lake, D, footprint_objects(any_lake, D)) == want
    assert any_lake.read_bytes(footprint_minutes.key(D)) == state

    # A replaced file is read again.
    any_lake.write_bytes(a, _file(7))
    got = footprint_minutes.minutes_by_ticker(any_lake, D, footprint_objects(any_lake, D))
    assert got == {"AAAA": {T0 + 420_000}, "BBBB": {T0 + 300_000}}

    # An unusable state is rebuilt from the files.
    any_lake.write_bytes(footprint_minutes.key(D), b"{not json")
    assert footprint_minutes.minutes_by_ticker(any_lake, D, footprint_objects(any_lake, D)) == got
