"""`orderflow capture`: the IPOT live trade stream into the lake's raw_lt/ (see `run`, `spool`)."""

from orderflow_pipeline.sources.ipot.capture.run import Capture, CaptureConfig
from orderflow_pipeline.sources.ipot.capture.spool import Spool

__all__ = ["Capture", "CaptureConfig", "Spool"]
