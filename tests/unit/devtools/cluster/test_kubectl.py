"""Kubectl.delete(wait=True) waits as kubectl does: for the deleted object (its UID), not the name."""

from __future__ import annotations

from typing import Any

import pytest
from devtools.cluster.kubectl import Kubectl
from devtools.waits import WaitTimeout


class Resource:
    def path(self, namespace: str, name: str) -> str:
        return f"/api/v1/namespaces/{namespace}/pods/{name}"


class ScriptedReads:
    """The API as a script: the DELETE's answer, then what each later GET finds under the name."""

    def __init__(self, answer: dict[str, Any], found: list[dict[str, Any] | None]) -> None:
        self.answer, self.found = answer, iter(found)
        self.last: dict[str, Any] | None = None

    def known(self, plural: str) -> Resource:
        return Resource()

    def send(self, method: str, path: str, body: Any, what: str = "") -> dict[str, Any]:
        return self.answer

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        self.last = next(self.found, self.last)
        return self.last


class ScriptedKubectl(Kubectl):
    def __init__(self, reads: ScriptedReads) -> None:
        super().__init__("kubectl", "kubeconfig", timeout=1)
        self.scripted = reads

    def reads(self) -> Any:
        return self.scripted


def pod(uid: str) -> dict[str, Any]:
    return {"metadata": {"name": "cam-ingest", "uid": uid}}


def test_a_replacement_under_the_same_name_counts_as_deleted() -> None:
    # The operator's watch put the object back before any read saw the name free (CI, ci77 in s13).
    reads = ScriptedReads(pod("old"), [pod("new")])
    ScriptedKubectl(reads).delete("pods", "ns", "cam-ingest", wait=True)


def test_the_deleted_object_still_there_is_waited_for() -> None:
    reads = ScriptedReads(pod("old"), [pod("old"), pod("old"), None])
    ScriptedKubectl(reads).delete("pods", "ns", "cam-ingest", wait=True)
    assert reads.last is None


def test_the_deleted_object_never_going_times_out() -> None:
    reads = ScriptedReads(pod("old"), [pod("old")])
    with pytest.raises(WaitTimeout, match="pods ns/cam-ingest deleted"):
        ScriptedKubectl(reads).delete("pods", "ns", "cam-ingest", wait=True, timeout=0.3)


def test_an_answer_without_a_uid_waits_for_the_name_to_be_free() -> None:
    reads = ScriptedReads({"kind": "Status", "status": "Success"}, [pod("new"), None])
    ScriptedKubectl(reads).delete("pods", "ns", "cam-ingest", wait=True)
    assert reads.last is None
