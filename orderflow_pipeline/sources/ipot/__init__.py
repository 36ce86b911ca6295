"""The IPOT web-trading WebSocket (../shared/IPOT.md): the one protocol module is `protocol`."""
