"""kopf's per-object memory not kept (control/runtime/unkept_memories.py): the operator's handlers
need none, each event gets a fresh one holding the operator's memo, and an operator with a handler
that needs a kept memory gets kopf's own. (Through kopf and a real API server: tests/cluster.)"""

from __future__ import annotations

import asyncio

import kopf
import streamops.control.handlers  # noqa: F401  (registers the operator's handlers)
from kopf._cogs.structs.bodies import RawBody
from kopf._cogs.structs.ephemera import AnyMemo
from kopf._core.reactor.inventory import ResourceMemories
from streamops.control.runtime.unkept_memories import UnkeptMemories, kept_memory_needed_by, memories_for

POD: RawBody = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "ns", "uid": "u1"}}


def test_the_operators_handlers_need_no_kept_memory() -> None:
    registry = kopf.get_default_registry()
    assert kept_memory_needed_by(registry) == []
    assert isinstance(memories_for(registry), UnkeptMemories)


def test_a_daemon_gets_kopfs_kept_memories() -> None:
    registry = kopf.OperatorRegistry()

    @kopf.daemon("v1", "pods", registry=registry, id="watcher")
    async def watcher(**_: object) -> None:
        pass

    assert kept_memory_needed_by(registry) == ["watcher"]
    memories = memories_for(registry)
    assert type(memories) is ResourceMemories


def test_each_event_gets_a_fresh_memory_with_the_memo_and_none_is_kept() -> None:
    memories = UnkeptMemories()
    memo = AnyMemo(kopf.Memo(state="the operator's state"))

    async def recall_twice() -> tuple[object, object]:
        first = await memories.recall(POD, memobase=memo, noticed_by_listing=True)
        second = await memories.recall(POD, memobase=memo)
        return first, second

    first, second = asyncio.run(recall_twice())
    assert first is not second
    assert first.memo.state == second.memo.state == "the operator's state"  # type: ignore[attr-defined]
    assert list(memories.iter_all_memories()) == []
