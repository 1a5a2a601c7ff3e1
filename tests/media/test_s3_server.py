"""The S3 server of the tests itself (devtools.media.s3_server): real versitygw on 127.0.0.1, real boto3 and
curl against its private CA, and the LAN relay in a throw-away network namespace."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from devtools.media.s3_server import S3Server, curl_put_seconds
from devtools.ports import tcp_accepts
from devtools.processes import alive, proc_tree
from devtools.versions import versitygw_bin

from devtools import netns

pytestmark = [
    pytest.mark.skipif(
        shutil.which("go") is None and not versitygw_bin().exists(),
        reason="needs Go to build versitygw (make s3server)",
    ),
    pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl (make deps)"),
    pytest.mark.timeout(300),  # the first run builds versitygw (≈1-2 min on 2 cores)
]

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with S3Server(tmp_path_factory.mktemp("s3")) as server:
        server.create_bucket("media")
        yield server


def curl_get(url: str, ca_file: Path | None, where: str | None = None) -> bytes:
    argv = ["curl", "--silent", "--show-error", "--fail", "--noproxy", "*", "--max-time", "20"]
    argv += ["--cacert", str(ca_file)] if ca_file else []
    argv = [*argv, url]
    done = subprocess.run(netns.nsenter(where, argv) if where else argv, capture_output=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def test_starts_and_stops_by_pid_with_nothing_left(tmp_path: Path) -> None:
    server = S3Server(tmp_path / "s3").start()
    try:
        assert server.pid is not None and alive(server.pid)
        tree = proc_tree(server.pid)
        assert tcp_accepts(server.port) and server.socket_path.exists()
        # the keys reach versitygw by its environment, not its command line, and are not left on disk
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes().decode()
        assert server.access_key not in cmdline and server.secret_key not in cmdline
        assert "versitygw" in cmdline  # the shell exec'd it: the PID is the server's
        assert not any(server.secret_key in p.read_text(errors="replace") for p in server.dir.rglob("*") if p.is_file())
    finally:
        server.stop()
    assert not [pid for pid in tree if alive(pid)]
    assert not tcp_accepts(server.port)
    assert not server.socket_path.parent.exists()


def test_multipart_upload_etag_and_presigned_get(s3: S3Server) -> None:
    client = s3.client()
    parts = [secrets.token_bytes(5 * MIB), secrets.token_bytes(5 * MIB), b"the last part is small"]
    key = "live/2026/11/23/video-1.mp4"
    upload = client.create_multipart_upload(Bucket="media", Key=key)["UploadId"]
    etags = [
        client.upload_part(Bucket="media", Key=key, UploadId=upload, PartNumber=n, Body=body)["ETag"]
        for n, body in enumerate(parts, 1)
    ]
    # An unfinished upload lists its parts (what a restarted recorder resumes from).
    listed = client.list_parts(Bucket="media", Key=key, UploadId=upload)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in listed] == [
        (n, len(body), etag) for n, (body, etag) in enumerate(zip(parts, etags, strict=True), 1)
    ]
    assert [e.strip('"') for e in etags] == [hashlib.md5(body).hexdigest() for body in parts]
    client.complete_multipart_upload(
        Bucket="media",
        Key=key,
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    head = client.head_object(Bucket="media", Key=key)
    assert head["ContentLength"] == sum(map(len, parts))
    # S3's multipart ETag: md5 of the parts' md5 digests, "-" and the number of parts.
    expected = hashlib.md5(b"".join(hashlib.md5(body).digest() for body in parts)).hexdigest() + f"-{len(parts)}"
    assert head["ETag"].strip('"') == expected
    assert s3.objects("media", "live/")[key] == sum(map(len, parts))

    url = client.generate_presigned_url("get_object", Params={"Bucket": "media", "Key": key}, ExpiresIn=60)
    assert url.startswith(f"https://127.0.0.1:{s3.port}/media/")
    assert curl_get(url, s3.ca_file) == b"".join(parts)


def test_wrong_credentials_and_missing_bucket_are_refused(s3: S3Server) -> None:
    import boto3

    wrong = boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key[::-1],
        region_name=s3.region,
        verify=str(s3.ca_file),
    )
    with pytest.raises(ClientError) as refused:
        wrong.head_bucket(Bucket="media")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # A request without a body: versitygw answers a PUT to a missing bucket before reading the body
    # and closes, so under load the client's write can meet the closed TLS stream (SSLError, EOF)
    # instead of the answer (one CI run, 2026-11-25).
    with pytest.raises(ClientError) as missing:
        s3.client().list_objects_v2(Bucket="no-such-bucket")
    assert missing.value.response["Error"]["Code"] == "NoSuchBucket"


def test_bucket_lifecycle_is_not_implemented(s3: S3Server) -> None:
    """versitygw has no lifecycle engine: the operator deletes expired videos itself."""
    rule = {"ID": "expire", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}
    with pytest.raises(ClientError) as refused:
        s3.client().put_bucket_lifecycle_configuration(Bucket="media", LifecycleConfiguration={"Rules": [rule]})
    assert refused.value.response["Error"]["Code"] == "NotImplemented"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501


def test_stop_and_start_again_keeps_port_objects_and_unfinished_uploads(tmp_path: Path) -> None:
    with S3Server(tmp_path / "s3") as server:
        server.create_bucket("media")
        client = server.client()
        client.put_object(Bucket="media", Key="done.mp4", Body=b"x" * 1000)
        upload = client.create_multipart_upload(Bucket="media", Key="half.mp4")["UploadId"]
        client.upload_part(Bucket="media", Key="half.mp4", UploadId=upload, PartNumber=1, Body=b"y" * (5 * MIB))
        endpoint, first_pid = server.endpoint, server.pid

        server.stop()
        with pytest.raises(EndpointConnectionError):
            client.head_bucket(Bucket="media")
        server.start()

        assert server.endpoint == endpoint and server.pid != first_pid
        assert server.objects("media") == {"done.mp4": 1000}
        assert client.list_parts(Bucket="media", Key="half.mp4", UploadId=upload)["Parts"][0]["Size"] == 5 * MIB


def test_plain_http(tmp_path: Path) -> None:
    with S3Server(tmp_path / "s3", tls=False) as server:
        assert server.endpoint.startswith("http://") and server.ca_file is None
        server.create_bucket("media")
        server.client().put_object(Bucket="media", Key="a", Body=b"abc")
        assert server.objects("media") == {"a": 3}


def test_secrets_are_manifests_the_recording_can_name(s3: S3Server) -> None:
    import base64

    creds = s3.credentials_secret("s3-credentials", "team")
    # Labelled for use by specs (docs/design/tenancy.md), unless a test wants one that is not.
    labels = {"streaming.streamops.dev/allow-reference": "true"}
    assert creds["kind"] == "Secret"
    assert creds["metadata"] == {"name": "s3-credentials", "namespace": "team", "labels": labels}
    decoded = {k: base64.b64decode(v).decode() for k, v in creds["data"].items()}
    assert decoded == {"accessKeyId": s3.access_key, "secretAccessKey": s3.secret_key}
    ca = s3.ca_secret("s3-ca", "team")
    assert s3.ca_file is not None and ca["metadata"]["labels"] == labels
    assert base64.b64decode(ca["data"]["ca.crt"]).decode() == s3.ca_file.read_text()
    assert "labels" not in s3.credentials_secret("s3-credentials", "team", allow_reference=False)["metadata"]


def test_curl_put_seconds(s3: S3Server, tmp_path: Path) -> None:
    path = tmp_path / "video.mp4"
    path.write_bytes(secrets.token_bytes(8 * MIB))
    seconds = curl_put_seconds(s3, "media", "bench/video.mp4", path)
    assert seconds > 0
    assert s3.objects("media", "bench/") == {"bench/video.mp4": 8 * MIB}
    print(f"curl PUT 8 MiB: {seconds:.3f} s ({8 / seconds:.0f} MiB/s)")


@contextlib.contextmanager
def throwaway_netns() -> Iterator[str]:
    """A namespace with nothing but its own loopback: no address of the cluster's ranges (a cluster
    started meanwhile checks those are unused), no route anywhere; deleted afterwards."""
    name = f"streamops-s3test-{secrets.token_hex(3)}"
    netns.create(name)
    try:
        netns.ip("link", "set", "lo", "up", netns=name)
        yield name
    finally:
        netns.delete(name)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nsenter") is None, reason="needs root and nsenter")
def test_lan_relay_reaches_the_server_from_another_network_namespace(tmp_path: Path) -> None:
    """What Pods on the pod-network cluster do through the relay in its outside namespace, with the
    relay on the throw-away namespace's own loopback instead of 10.241.0.1 (the multinode suite uses
    that)."""
    with S3Server(tmp_path / "s3") as server, throwaway_netns() as ns:
        server.create_bucket("media")
        server.client().put_object(Bucket="media", Key="a.mp4", Body=b"from the host")
        with server.lan_relay(ns, address="127.0.0.1") as relay:
            assert relay.endpoint == "https://127.0.0.1:9443"
            signed = server.client(relay.endpoint)
            url = signed.generate_presigned_url("get_object", Params={"Bucket": "media", "Key": "a.mp4"}, ExpiresIn=60)
            assert curl_get(url, server.ca_file, where=ns) == b"from the host"
            with netns.entered(ns):  # boto3 from inside, through the relay, TLS to the end
                signed.put_object(Bucket="media", Key="b.mp4", Body=b"from the LAN")
            assert server.objects("media") == {"a.mp4": 13, "b.mp4": 12}

            server.restart()  # the relay connects per connection: it outlives the server's restarts
            assert curl_get(url, server.ca_file, where=ns) == b"from the host"
            relay_tree = proc_tree(relay.pid or 0)
        assert not [pid for pid in relay_tree if alive(pid)]
    assert not netns.exists(ns)
