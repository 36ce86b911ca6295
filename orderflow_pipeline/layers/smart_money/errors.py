"""The one error a broker-summary file can raise: its message is the quarantine reason."""

from __future__ import annotations


class BroksumError(ValueError):
    """A broker-summary object that cannot be used; `str(exc)` is `<code>: <detail>`, the reason
    stored with the quarantined file (`<code>` groups reasons, e.g. `bad_json`, `implausible_total`)."""
