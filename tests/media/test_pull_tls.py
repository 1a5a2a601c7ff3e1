"""Pulling from an rtmps:// origin with real FFmpeg: the origin's certificate is verified before the
URL's path (often a secret stream name) is sent or any media put on air (source.pull.tls,
docs/design/rtsp-pull.md "The origin's certificate")."""

from __future__ import annotations

from devtools.media.peers import NginxRtmp, Publisher, TlsForwarder
from devtools.waits import wait_for

NAME = "secret-name-7f3a"  # the stream name in the pull URL's path


def test_pulls_rtmps_only_from_an_origin_whose_certificate_is_verified(ingest_factory, tmp_path):
    """The attack: someone on the network answers at the origin's address with a certificate of their
    own (here a TLS forwarder's self-signed one, in front of the real origin). The ingest completes the
    TLS handshake, refuses the certificate (against the system's trust store, the default), and sends
    nothing after it: not a byte of RTMP (the URL's path would be in its play), so nothing goes on air.
    Given the origin's CA (source.pull.tls.caSecretRef's file), the same URL list goes live from the
    origin whose certificate it signed, and the other one is still refused."""
    with (
        NginxRtmp(workdir=tmp_path / "origin") as nginx,
        TlsForwarder(nginx.rtmp_port, tmp_path / "attacker") as attacker,
        TlsForwarder(nginx.rtmp_port, tmp_path / "trusted") as trusted,
    ):
        publisher = Publisher(nginx.rtmp_url("live", NAME), duration=60).start()
        try:
            wait_for(lambda: nginx.publishing() == {NAME}, timeout=10, what="the origin has the stream")
            forged, origin = f"{attacker.url()}/{NAME}", f"{trusted.url()}/{NAME}"
            # Side by side: the system's trust store (the default), and the trusted origin's CA (its own cert).
            refused = ingest_factory("unverified", source={"pull": {"urls": [forged]}})
            ca = {"pullTlsCaFile": str(trusted.cert)}
            ingest = ingest_factory("verified", source={"pull": {"urls": [forged, origin]}}, **ca)
            # Unverified, it would go live from whoever answered: wait for either.
            failed = wait_for(lambda: ((s := refused.status())["pullFailure"] or s["live"]) and s, 15, what="refused")
            sent = attacker.bytes_in
            print(f"live {failed['live']}, {sent} bytes sent to the forged origin after the TLS handshake")
            assert not failed["live"] and failed["source"] is None, f"on air from the forged origin: {failed}"
            assert attacker.connections >= 1 and sent == 0, "handshakes, and nothing sent after them"
            message = failed["pullFailure"]["message"]
            print("refused:", message)
            assert message.startswith(f"the certificate of the origin 127.0.0.1:{attacker.port} is not trusted")

            status = ingest.wait_live(timeout=20)
            assert status["source"] == "pull-1", "the origin whose certificate the CA signed"
            assert trusted.connections >= 1 and trusted.bytes_in > 0
            refusal = (
                f"pull URL #0 gave no media: the certificate of the origin 127.0.0.1:{attacker.port} is not trusted"
            )
            assert refusal in ingest.logs(), "with a CA file, only what it signed is trusted"
            wait_for(lambda: ingest.status()["videoCodec"] == "h264", timeout=10, what="the origin's video")
            assert not refused.status()["live"] and attacker.bytes_in == 0, "every attempt: nothing after the handshake"
        finally:
            publisher.stop()
