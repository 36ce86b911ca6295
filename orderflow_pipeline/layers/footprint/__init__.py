"""Footprint layer (SPEC §5-§6): tape -> 1-minute candles -> hour files.

tape.py parses and classifies the trade tape; build.py (`ASSET`, `build_footprint`) aggregates
it into candles; hour_files.py lists, validates and writes the hour files; candles.py (with
candle_parse.py) is the §6 validator the warehouse shares; manifest.py is the incremental state;
result.py what a build reports; checks.py the layer's checks; minutes.py their cache.
"""
