"""`kubectl streamops push-url` without a cluster (cli/stream_key.py): the protocol chosen, and what
to do with a push URL that works inside the cluster only."""

from __future__ import annotations

import pytest
from streamops.cli.command_error import CommandError
from streamops.cli.stream_key import chosen_protocol, cluster_only_hint


def test_the_protocol_asked_must_be_one_the_stream_takes():
    push = {"metadata": {"name": "cam"}, "spec": {"source": {"push": {"protocols": ["srt", "rtmps", "whip"]}}}}
    assert chosen_protocol(push, None) == "rtmps"  # rtmp first, then rtmps, srt, whip
    assert chosen_protocol(push, "whip") == "whip"
    with pytest.raises(CommandError, match=r"does not accept rtmp \(spec.source.push.protocols: srt, rtmps, whip\)"):
        chosen_protocol(push, "rtmp")
    with pytest.raises(CommandError, match="pulls from origins"):
        chosen_protocol({"metadata": {"name": "cam"}, "spec": {"source": {"pull": {"urls": ["rtmp://o/a"]}}}}, None)


def test_what_to_do_with_a_push_url_inside_the_cluster():
    server = "rtmp://cam-ingest.live.svc.cluster.local:1935/live"
    rtmp = cluster_only_hint(server, "rtmp", "inside the cluster only")
    assert rtmp == (
        "this URL works inside the cluster only; from here: kubectl port-forward -n live svc/cam-ingest 1935:1935, "
        "then push to rtmp://127.0.0.1:1935/live/<key>"
    )
    assert "SRT is UDP" in cluster_only_hint("srt://cam-ingest.live.svc.cluster.local:9998", "srt", None)
    assert "WebRTC media" in cluster_only_hint("http://cam-ingest.live.svc:8080/whip", "whip", None)
