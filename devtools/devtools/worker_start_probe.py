"""`streamops worker KIND --config FILE` made, not run: asyncio.run replaced, the worker is made (its
`start`), then the missing running loop ends the coroutine at its first wait. The script's first
lines, for a probe to end its own way (`code` is main's return): the worker-imports test prints the
modules loaded, `make bench-workers` times the start's CPU.

asyncio is imported first as the role's `run_worker` imports it (cli/worker.py `import_asyncio`:
without `ssl` for every role but the ingest), so that replacing its `run` loads nothing the worker
would not; a tree from before that function (bench-workers' "before") imports it plainly."""

from __future__ import annotations

# The role's asyncio, as run_worker imports it (absent before issue 53's import_asyncio: plain).
AS_THE_WORKER = """
import sys
from streamops.cli import worker as _worker
getattr(_worker, "import_asyncio", lambda role: None)(sys.argv[1])
"""

MADE_ONLY = (
    AS_THE_WORKER
    + """
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
)
