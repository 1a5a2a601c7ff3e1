"""A pull stream's loop: its URLs tried round-robin, each through the egress guard (pull_egress.py)
and, for an RTSP camera, with the credentials read at each attempt (rtsp_pull.py); the last
failure said, and the stream deactivated when no URL gives media for the inactivity timeout.
Why: docs/design/rtsp-pull.md, egress.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from streamops.api.livestream_media import PullRtsp, PullSource
from streamops.contract.egress_policy import REFUSED, EgressPolicy
from streamops.contract.ingest import IngestConfig, PullFailure
from streamops.egress.media_destinations import PinnedMedia
from streamops.media.ingest.commands import pull_input
from streamops.media.ingest.pull_egress import PullEgress, refusal_message
from streamops.media.ingest.rtsp_pull import CredentialsUnreadable, credentialed_url, failure, is_rtsp, read_credentials
from streamops.media.ingest.session import Session
from streamops.media.ingest.sessions import OwnSessions
from streamops.redaction import Redactor

HELD_POLL_SECONDS = 0.1  # how soon a held pull starts once taken again


class PullLoop:
    def __init__(
        self, config: IngestConfig, sessions: OwnSessions, private_dir: Path, redact: Redactor, log: logging.Logger
    ) -> None:
        self.config, self.sessions, self.private_dir, self.redact, self.log = config, sessions, private_dir, redact, log
        self.egress = PullEgress(config.egress or EgressPolicy())  # where pull URLs may connect
        # The stream takes media (a pull that gave none for its inactivity timeout turns it off).
        self.active = True
        self.deactivated_reason: str | None = None
        self.index = 0
        self.failure: PullFailure | None = None  # the last pull attempt that gave no media
        # A handover's predecessor once released, or its successor while it follows: no pulling
        # (and no inactivity counted) until it is taken again.
        self.held = False

    async def run(self, stopping: asyncio.Event) -> None:
        pull = self.config.source.pull
        assert pull is not None
        await self.egress.start(pull.urls)
        try:
            await self._pull_urls(pull, stopping)
        finally:
            await self.egress.close()

    async def _pull_urls(self, pull: PullSource, stopping: asyncio.Event) -> None:
        urls = pull.urls
        self.sessions.last_media = time.monotonic()
        failures_in_a_row = 0
        while not stopping.is_set():
            if self.held:
                self.sessions.last_media = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), HELD_POLL_SECONDS)
                continue
            if time.monotonic() - self.sessions.last_media > pull.inactivity_timeout_seconds:
                self.active = False
                self.deactivated_reason = f"no data for {pull.inactivity_timeout_seconds} s from any pull URL"
                self.log.warning("stream deactivated: %s", self.deactivated_reason)
                return
            index = self.index % len(urls)
            attempt: Session | PullFailure
            try:  # the egress guard first: nothing is opened that it did not check (pull_egress.py)
                target = await self.egress.attempt(urls[index])
            except OSError as e:
                attempt = PullFailure(url_index=index, url=urls[index], kind="failed", message=refusal_message(e))
            else:
                attempt = self.session(index, urls[index], pull.rtsp, target)
            if isinstance(attempt, PullFailure):  # nothing to run: the next URL
                self.failure = attempt
                self.log.warning("pull URL #%d not tried: %s", index, attempt.message)
                self.index += 1
                failures_in_a_row += 1
                if failures_in_a_row % len(urls) == 0:
                    await asyncio.sleep(min(5.0, 0.5 * failures_in_a_row / len(urls)))
                continue
            session = attempt
            self.sessions.listeners = [session]
            run = asyncio.create_task(session.run())
            stop = asyncio.create_task(stopping.wait())
            await asyncio.wait([run, stop], return_when=asyncio.FIRST_COMPLETED)
            if stop.done():
                await session.process.stop()
                run.cancel()
                return
            stop.cancel()
            flowed = run.result()
            if not flowed:
                process, credentialed = session.process, session.args_file is not None
                self.failure = failure(index, urls[index], process.tail, process.last_error(), credentialed)
                if self.egress.refused_during():  # a redirect or a segment the guard refused
                    self.failure = PullFailure(url_index=index, url=urls[index], kind="failed", message=REFUSED)
                self.log.info("pull URL #%d gave no media: %s", index, self.failure.message)
            else:
                self.failure = None
            # Failed or stopped sending: the next URL becomes current (round-robin).
            self.index += 1
            failures_in_a_row = 0 if flowed else failures_in_a_row + 1
            if failures_in_a_row and failures_in_a_row % len(urls) == 0:
                await asyncio.sleep(min(5.0, 0.5 * failures_in_a_row / len(urls)))

    def session(self, index: int, url: str, rtsp: PullRtsp | None, target: PinnedMedia) -> Session | PullFailure:
        """One attempt at pull URL #`index`, opened as the egress guard let it (`target`: the checked
        address, or the guard's proxy). An RTSP camera's user name and password are read now
        (a changed Secret reaches the next attempt), join the redactor, and reach FFmpeg inside the
        URL through an `-args_file` FIFO only (rtsp_pull.py)."""
        pull = self.config.source.pull
        insecure = bool(pull and pull.tls and pull.tls.insecure_skip_verify)
        ca_file = self.config.pull_tls_ca_file
        # the spec's URL, checked (scheme, no userinfo); rtmps/https verified (commands.pull_input)
        _, options = pull_input(url, rtsp, ca_file, insecure)
        pinned = dict(target.options)
        if is_rtsp(url) and "tls_verify" not in options:
            pinned.pop("verifyhost", None)  # the rtsp demuxer takes it only to verify
        options = {**options, **pinned}
        if ca_file and "ca_file" in options and not Path(ca_file).is_file():
            # Fail closed, and say it: FFmpeg would only say the certificate failed verification.
            message = (
                f"the CA file of source.pull.tls.caSecretRef is missing in the ingest Pod ({ca_file}): does the "
                "Secret exist with that key?"
            )
            return PullFailure(url_index=index, url=url, kind="failed", message=message)
        try:
            credentials = read_credentials(self.config) if is_rtsp(url) else None
        except CredentialsUnreadable as e:
            return PullFailure(url_index=index, url=url, kind="credentials-unreadable", message=str(e))
        new_session = self.sessions.new_session
        if credentials is None:
            return new_session(f"pull-{index}", target.url, options)
        for secret in credentials.secrets():
            self.redact.add(secret)
        fifo = self.private_dir / f"pull-{time.monotonic_ns()}.args"
        return new_session(f"pull-{index}", credentialed_url(target.url, credentials), options, args_file=fifo)
