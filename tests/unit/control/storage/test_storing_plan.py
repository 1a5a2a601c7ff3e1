"""The gates Recording and Clip plans share (storing_plan.py), as the pure functions they are: an
observation built by hand, one row per case. The kinds' own order of them: their test_plan.py."""

from __future__ import annotations

from typing import Any

import pytest
from devtools.catalog import stored_livestream
from streamops.api.recording import PersistentVolumeClaimStorage, RecordingStorage
from streamops.control.shared.conditions import REFUSED_BY_POLICY
from streamops.control.storage.storing_observe import StoringObserved
from streamops.control.storage.storing_plan import Followed, claim_wanted, followed, storage_refusal, waiting_for_ports
from streamops.control.storage.video_storage import STORAGE_CREDENTIALS_MISSING, StorageRefusal

STREAM = stored_livestream(uid="stream-uid")
CLAIM = RecordingStorage(pvc=PersistentVolumeClaimStorage(claim_name="videos"))
MISSING = StorageRefusal(STORAGE_CREDENTIALS_MISSING, "Secret s3-creds does not exist")
BY_POLICY = StorageRefusal(REFUSED_BY_POLICY, "Secret s3-creds is not labelled")
POD: dict[str, Any] = {"metadata": {"name": "w"}, "status": {"phase": "Running"}}


def seen(worker: dict[str, Any] | None = None, **changes: Any) -> StoringObserved:
    return StoringObserved(worker, **{"stream": STREAM, "storage": CLAIM, **changes})


def test_the_stream_and_its_storage_are_followed_once_both_were_read() -> None:
    assert followed(seen()) == Followed(STREAM, CLAIM)
    assert followed(seen(stream=None)) is None and followed(seen(storage=None)) is None
    assert followed(StoringObserved(POD)) is None, "a done object reads nothing more"


@pytest.mark.parametrize(
    ("worker", "refused", "removes"),
    [
        (None, None, None),
        (None, MISSING, MISSING),  # no worker made without its Secret
        (POD, MISSING, None),  # one that runs has it already
        (None, BY_POLICY, BY_POLICY),
        (POD, BY_POLICY, BY_POLICY),  # the policy takes it away from a running one too
    ],
)
def test_a_storage_refusal_removes_a_worker_not_made_yet_and_any_the_policy_refuses(
    worker: dict[str, Any] | None, refused: StorageRefusal | None, removes: StorageRefusal | None
) -> None:
    assert storage_refusal(seen(worker, storage_refused=refused)) == removes


def test_ports_are_waited_for_only_on_the_host_network_and_the_claim_only_before_a_first_worker() -> None:
    assert waiting_for_ports(seen(host_network=True)) and not waiting_for_ports(seen())
    assert not waiting_for_ports(seen(host_network=True, ingest_ports={"rtmp": 1935}))
    assert claim_wanted(seen()) and not claim_wanted(seen(POD))
