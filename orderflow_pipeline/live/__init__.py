"""The live path (SPEC §16): today's footprint and summary from each trade line as it arrives.

- `journal`: the capture's spool, tailed, plus the day's raw_lt objects in the lake;
- `engine`: per ticker, the day re-derived through the footprint and summary layers' own code;
- `stream`: the event log behind `GET /live/stream` (ids, resume, drop-and-resync);
- `service`: the background thread tying them together for `orderflow serve` (`api.live_routes`).
"""
