"""`orderflow replay-server`: a lake day served over the IPOT protocol (see `server`)."""

from orderflow_pipeline.sources.ipot.replay.server import ReplayConfig, ReplayServer, load_day, serve

__all__ = ["ReplayConfig", "ReplayServer", "load_day", "serve"]
