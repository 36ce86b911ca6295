"""`orderflow capture`: the IPOT live trade stream into the lake's raw_lt/.

`run` starts and stops a capture; `session` is its feed connection, `flush` its way from lines to
the lake through the local `spool`, `heartbeat` its status object, `state` what they share.
"""
