"""`streamops playback url` and `rotate-key` against a real kube-apiserver, as a user runs them (the
installed command, the user's kubeconfig): the Secret is created, rotated (previous := current), a
second rotation within the propagation time is refused; the URL's token is the stream's, signed with
`previous` until `current` has propagated, then with `current`; a public stream gets its plain URL,
a signed stream without a key Secret an error. The test writes the LiveStream's status itself, as
the operator would.

Each command runs as a process at least once (a signed URL, a rotation and a refused one); the
missing-Secret error, the Secret's creation and the variants run the command's main() in the test's
process against the same API server (as tests/cluster/test_kubectl_plugin.py does: a process costs
≈3 s of imports on a loaded CI machine)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from devtools.catalog import livestream
from devtools.cluster.suite import Cluster
from streamops.cli.streamops_command import main
from streamops.contract.playback_token import (
    KEYS_SECRET,
    ROTATED_AT_ANNOTATION,
    key_id,
    parse,
    split_token_path,
    verify,
)
from streamops.control.shared.tenancy import ALLOW_REFERENCE_LABEL

STREAMOPS = Path(sys.executable).with_name("streamops")


def streamops(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    return subprocess.run([str(STREAMOPS), *args], env=env, capture_output=True, text=True, timeout=60)


def in_process(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> subprocess.CompletedProcess[str]:
    """`streamops ARGS` through its main() in this process, with the same kubeconfig."""
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["streamops", *args], code, out, err)


def live_stream(cluster: Cluster, ns: str, name: str, access: str) -> str:
    """A LiveStream with the status URLs the operator writes for a route at /streams/<ns>/<name>."""
    base = f"https://live.example.com/streams/{ns}/{name}"
    # The route in the spec too: an operator of another test of the session, when one runs, writes
    # these same URLs rather than the ingest's (a fresh-clone run lost that race to it).
    route = {"host": "live.example.com", "path": f"/streams/{ns}/{name}", "tlsSecretName": "live-tls"}
    # The TLS Secret exists and may be referenced: the operator refuses a route whose Secret does not
    # (tenancy.requireSecretLabel, on by default) and writes the ingest's URLs; when its status write
    # came after this test's patch below (a CI run at load ≈15), the URLs were not the route's.
    tls = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "live-tls", "labels": {ALLOW_REFERENCE_LABEL: "true"}},
    }
    cluster.apply(ns, tls)
    cluster.apply(ns, livestream(name, hls={"latencyMode": "low"}, playback={"access": access, "ingress": route}))
    playback = {
        "playerUrl": f"{base}/player",
        "hlsCmafUrl": f"{base}/hls/cmaf/index.m3u8",
        "whepUrl": f"{base}/whep",
    }
    cluster.patch("livestream", ns, name, {"status": {"playback": playback}}, subresource="status")
    return base


def keys(cluster: Cluster, ns: str) -> dict[str, Any]:
    secret = cluster.get("secret", ns, KEYS_SECRET)
    assert secret is not None
    return {
        "data": {k: base64.b64decode(v) for k, v in secret["data"].items()},
        "rotatedAt": secret["metadata"]["annotations"][ROTATED_AT_ANNOTATION],
    }


def token_of(url: str, base: str) -> str:
    prefix = base.removeprefix("https://live.example.com")
    token, rest = split_token_path(url.removeprefix("https://live.example.com"), prefix)
    assert token is not None and rest.startswith(prefix + "/"), url
    return token


def test_url_and_rotate_key_against_real_secrets(
    cluster: Cluster, operator: Any, namespace: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    ns = namespace

    def here(*args: str) -> subprocess.CompletedProcess[str]:
        return in_process(cluster, monkeypatch, capsys, *args)

    base = live_stream(cluster, ns, "cam", "signed")
    # The session's operator runs (asked for: it ran or not depending on the tests before, a race a
    # fresh-clone run lost): once it has reconciled the stream, its status URLs are the route's.
    reconciled = cluster.wait_status(
        "livestream", ns, "cam",
        lambda o: o["status"].get("observedGeneration") == o["metadata"]["generation"], "reconciled", timeout=30,
    )  # fmt: skip
    assert reconciled["status"]["playback"]["playerUrl"] == f"{base}/player", reconciled["status"]["playback"]
    # It creates the namespace's keys for a signed stream at its reconcile. Gone now, they are not
    # back before the stream's next reconcile; the events of its own children (its Services
    # appearing) may still wake one: deleted again until the CLI sees them gone. (In this process:
    # the seconds of two processes' imports gave the operator's reconciles, every 5 s here, time
    # to put the Secret back between the delete and the CLI's look.)
    for _ in range(10):
        cluster.delete("secret", ns, KEYS_SECRET, wait=True, missing_ok=True)
        missing = here("playback", "url", "cam", "-n", ns)
        if missing.returncode != 1:
            continue
        assert f"has no secret {KEYS_SECRET}" in missing.stderr, missing.stderr
        created = here("playback", "rotate-key", "-n", ns)
        assert created.returncode == 0, created.stderr
        if "created secret" in created.stdout:
            break
    else:
        raise AssertionError(f"the CLI never found {KEYS_SECRET} missing, or never created it: {missing.stderr}")
    first = keys(cluster, ns)["data"]["current"]
    assert len(first) == 32 and "previous" not in keys(cluster, ns)["data"]

    answer = streamops(cluster, "playback", "url", "cam", "-n", ns, "--expires", "2h", "--ip", "10.1.2.3")
    assert answer.returncode == 0, answer.stderr
    url = answer.stdout.strip()
    assert url.startswith(f"{base}/t/v1~") and url.endswith("/player"), url
    token = token_of(url, base)
    now = time.time()
    assert verify(token, [first], f"{ns}/cam", now, "10.1.2.3") is None
    assert verify(token, [first], f"{ns}/other", now, "10.1.2.3") is not None
    parsed = parse(token)
    assert parsed is not None and abs(parsed.expires - (now + 7200)) < 60 and parsed.ip == "10.1.2.3"
    assert first.hex() not in answer.stdout + answer.stderr

    # A rotation: previous := current. Until the new key is 120 s old, URLs are signed with the previous.
    rotated = streamops(cluster, "playback", "rotate-key", "-n", ns)
    assert rotated.returncode == 0 and "rotated" in rotated.stdout, rotated.stderr
    after = keys(cluster, ns)
    assert after["data"]["previous"] == first and after["data"]["current"] != first
    assert key_id(after["data"]["current"]) in rotated.stdout and key_id(first) in rotated.stdout
    for fmt, suffix in (("llhls", "/hls/cmaf/index.m3u8"), ("whep", "/whep"), ("player", "/player")):
        answer = here("playback", "url", "cam", "-n", ns, "--format", fmt)
        assert answer.returncode == 0 and answer.stdout.strip().endswith(suffix), answer.stderr
        token = token_of(answer.stdout.strip(), base)
        assert parse(token).kid == key_id(first), "signed with the previous key: the new one may not be mounted yet"

    refused = streamops(cluster, "playback", "rotate-key", "-n", ns)
    assert refused.returncode == 1 and "less than 120 s old" in refused.stderr, refused.stderr
    assert keys(cluster, ns)["data"] == after["data"], "nothing changed"

    # Once the new key is old enough, it signs.
    old = (datetime.now(UTC) - timedelta(seconds=121)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cluster.annotate("secret", ns, KEYS_SECRET, {ROTATED_AT_ANNOTATION: old})
    answer = here("playback", "url", "cam", "-n", ns)
    assert parse(token_of(answer.stdout.strip(), base)).kid == key_id(after["data"]["current"])

    forced = here("playback", "rotate-key", "-n", ns, "--force")
    assert forced.returncode == 0, forced.stderr
    assert keys(cluster, ns)["data"]["previous"] == after["data"]["current"]

    # A public stream: its plain URL, and a word on stderr.
    public_base = live_stream(cluster, ns, "open", "public")
    answer = here("playback", "url", "open", "-n", ns)
    assert answer.returncode == 0 and answer.stdout.strip() == f"{public_base}/player", answer
    assert "is public" in answer.stderr

    gone = here("playback", "url", "nothing", "-n", ns)
    assert gone.returncode == 1 and "livestream nothing not found" in gone.stderr
