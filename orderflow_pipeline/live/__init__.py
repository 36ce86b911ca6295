"""The live path (SPEC §16): today's footprint and summary from each trade line as it arrives.

- `journal`: the capture's spool, tailed, plus the day's raw_lt objects in the lake (the default);
- `broker`: the Redis Streams layout of the live broker (ORDERFLOW_LIVE_BROKER, API replicas on
  other hosts); `publisher`: the capture's side of it; `subscriber`: the API's (stream + lake);
- `engine`: per ticker, the day re-derived through the footprint and summary layers' own code;
- `stream`: the event log behind `GET /live/stream` (ids, resume, drop-and-resync);
- `service`: the background thread tying them together for `orderflow serve` (`api.live_routes`).
"""
