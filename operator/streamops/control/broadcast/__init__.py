"""Broadcast: its status from the facts of the streams it names (docs/design/broadcasts.md)."""
