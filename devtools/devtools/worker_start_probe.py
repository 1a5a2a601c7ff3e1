"""`streamops worker KIND --config FILE` made, not run: asyncio.run replaced, the worker is made (its
`start`), then the missing running loop ends the coroutine at its first wait. The script's first
lines, for a probe to end its own way (`code` is main's return): the worker-imports test prints the
modules loaded, `make bench-workers` times the start's CPU."""

from __future__ import annotations

MADE_ONLY = """
import asyncio, json, sys
def made_only(coroutine):
    try:
        coroutine.send(None)
    except RuntimeError:
        pass
    finally:
        coroutine.close()
    return 0
asyncio.run = made_only
from streamops.cli.streamops_command import main
code = main(["worker", sys.argv[1], "--config", sys.argv[2]])
"""
