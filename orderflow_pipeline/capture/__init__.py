"""`orderflow capture`: the IPOT live trade stream into the lake's raw_lt/ (see `run`, `spool`)."""

from .run import Capture, CaptureConfig
from .spool import Spool

__all__ = ["Capture", "CaptureConfig", "Spool"]
