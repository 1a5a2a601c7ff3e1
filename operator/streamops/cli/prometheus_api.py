"""The Prometheus `stats` reads (cli/stats.py): where its URL comes from, and its HTTP API's
`query_range`, fetched with a timeout and a bound on the answer's size.

Where the URL comes from, first found wins (docs/design/kubectl-plugin.md, "stats"):
1. `--prometheus URL`;
2. `$STREAMOPS_PROMETHEUS_URL`;
3. the kubeconfig's current context, an extension named `prometheus.streamops.dev` with `url` (and
   optionally `tokenFile`): the URL follows `kubectl config use-context`, the only way to switch
   clusters the plugin has (kubectl hands no --context to a plugin), so one cluster's streams are never
   looked up in another cluster's Prometheus.

The URL is something the user typed and this process fetches: http or https only, no user:password@
(argv and shell history would keep it), no query or fragment (paths are appended), no redirect
followed. A bearer token (a Prometheus behind an authenticating proxy) comes from a file
(`--prometheus-token-file`, the extension's `tokenFile`) or `$STREAMOPS_PROMETHEUS_TOKEN`, never
from argv, and is sent over https only (or to a loopback address: a port-forward)."""

from __future__ import annotations

import ipaddress
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamops.cli.command_error import CommandError

URL_ENV = "STREAMOPS_PROMETHEUS_URL"
TOKEN_ENV = "STREAMOPS_PROMETHEUS_TOKEN"
EXTENSION = "prometheus.streamops.dev"  # the kubeconfig context extension's name
TIMEOUT_SECONDS = 15.0  # per request; Prometheus is told the same (`timeout=`), so it stops too
# A query here aggregates to one series: 11,000 points (Prometheus's own ceiling) take ≈0.4 MB.
MAX_ANSWER_BYTES = 4 << 20
MAX_TOKEN_BYTES = 16 << 10
HOW_TO_CONFIGURE = f"--prometheus URL, ${URL_ENV}, or the kubeconfig context's extension {EXTENSION} (url:)"

Series = dict[str, Any]  # one series of a matrix: {"metric": {labels}, "values": [[t, "v"], ...]}


@dataclass(frozen=True)
class Source:
    url: str  # checked (checked_url), without a trailing /
    token: str | None
    origin: str  # where it was found, for messages: "--prometheus", "$STREAMOPS_PROMETHEUS_URL", ...


def checked_url(text: str, origin: str) -> str:
    """The base URL of a Prometheus (a path prefix allowed: /prometheus behind a proxy), or a
    CommandError saying what is wrong with it."""
    try:
        parts = urllib.parse.urlsplit(text.strip())
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError as e:
        raise CommandError(f"{origin} {text!r} is not a URL ({e})") from None
    if parts.scheme not in ("http", "https"):
        raise CommandError(f"{origin} {text!r}: only http:// and https:// Prometheus URLs")
    if not parts.hostname:
        raise CommandError(f"{origin} {text!r} names no host")
    if parts.username is not None or parts.password is not None:
        raise CommandError(
            f"{origin}: no credentials in the URL (the command line and history keep them); a bearer token "
            f"goes in a file (--prometheus-token-file) or ${TOKEN_ENV}"
        )
    if parts.query or parts.fragment:
        raise CommandError(f"{origin} {text!r}: the base URL only, without ?query or #fragment")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(path: str, origin: str) -> str:
    try:
        with open(os.path.expanduser(path), "rb") as f:
            raw = f.read(MAX_TOKEN_BYTES + 1)
    except OSError as e:
        raise CommandError(f"{origin}: cannot read the token file {path}: {e.strerror or e}") from None
    if len(raw) > MAX_TOKEN_BYTES:
        raise CommandError(f"{origin}: {path} is larger than a token ({MAX_TOKEN_BYTES} bytes at most)")
    token = raw.decode(errors="replace").strip()
    if not token:
        raise CommandError(f"{origin}: the token file {path} is empty")
    return token


def context_extension(kubeconfig_paths: list[Path]) -> tuple[str, dict[str, Any]] | None:
    """(context name, the extension `prometheus.streamops.dev` of the current context) from the
    kubeconfig files as kubectl merges them: the first current-context set, the first definition
    of that context. None when there is none (a file that cannot be read counts as empty: the
    login already read them, and said so)."""
    import yaml

    current: str | None = None
    contexts: dict[str, Any] = {}
    for path in kubeconfig_paths:
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(doc, dict):
            continue
        current = current or doc.get("current-context") or None
        for entry in doc.get("contexts") or []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                contexts.setdefault(entry["name"], entry.get("context") or {})
    context = contexts.get(current or "")
    if not current or not isinstance(context, dict):
        return None
    for ext in context.get("extensions") or []:
        if isinstance(ext, dict) and ext.get("name") == EXTENSION and isinstance(ext.get("extension"), dict):
            return current, ext["extension"]
    return None


def kubeconfig_paths(env: Mapping[str, str]) -> list[Path]:
    """$KUBECONFIG's files (the plugin's --kubeconfig is put there by the login), else ~/.kube/config."""
    listed = [Path(p) for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    return listed or [Path.home() / ".kube" / "config"]


def configured(url: str | None, token_file: str | None, env: Mapping[str, str]) -> Source | None:
    """The Prometheus to ask (see the module's docstring), None when none is configured."""
    extension: dict[str, Any] = {}
    if url:
        origin = "--prometheus"
    elif env.get(URL_ENV):
        url, origin = env[URL_ENV], f"${URL_ENV}"
    elif found := context_extension(kubeconfig_paths(env)):
        context, extension = found
        origin = f"kubeconfig context {context}'s extension {EXTENSION}"
        if not isinstance(extension.get("url"), str):
            raise CommandError(f"{origin} has no url")
        url = extension["url"]
    elif token_file:
        raise CommandError(f"--prometheus-token-file without a Prometheus URL ({HOW_TO_CONFIGURE})")
    else:
        return None
    checked = checked_url(url, origin)
    if token_file:
        token: str | None = read_token(token_file, "--prometheus-token-file")
    elif env.get(TOKEN_ENV):
        token = env[TOKEN_ENV].strip()
    elif isinstance(extension.get("tokenFile"), str):  # the extension's token goes to its own URL only
        token = read_token(extension["tokenFile"], origin)
    else:
        token = None
    if token and checked.startswith("http://") and not loopback(checked):
        raise CommandError(
            f"{origin}: a bearer token is sent over https only (or to a loopback address such as a "
            f"port-forward), not to {checked}"
        )
    return Source(checked, token, origin)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not followed: the token must not go where the user did not say."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class PrometheusApi:
    def __init__(self, source: Source, timeout: float = TIMEOUT_SECONDS, max_bytes: int = MAX_ANSWER_BYTES) -> None:
        self.source, self.timeout, self.max_bytes = source, timeout, max_bytes
        self._opener = urllib.request.build_opener(_NoRedirect())

    @property
    def url(self) -> str:
        return self.source.url

    def query_range(self, expr: str, start: int, end: int, step: int) -> list[Series]:
        """The matrix of `expr` at start, start+step, ... end (Unix seconds)."""
        params = {"query": expr, "start": str(start), "end": str(end), "step": f"{step}s"}
        data = self._get("query_range", params)
        if not isinstance(data, dict) or data.get("resultType") != "matrix":
            raise CommandError(f"Prometheus at {self.url} answered query_range with no matrix: is it Prometheus?")
        return list(data.get("result") or [])

    def _get(self, endpoint: str, params: dict[str, str]) -> Any:
        query = urllib.parse.urlencode({**params, "timeout": f"{max(1, round(self.timeout))}s"})
        request = urllib.request.Request(
            f"{self.url}/api/v1/{endpoint}?{query}", headers={"Accept": "application/json"}
        )
        if self.source.token:
            request.add_unredirected_header("Authorization", f"Bearer {self.source.token}")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status, body = response.status, self._read(response)
        except urllib.error.HTTPError as e:
            with e:
                status, body = e.code, self._read(e)
        except TimeoutError:
            raise CommandError(f"Prometheus at {self.url} did not answer within {self.timeout:g} s") from None
        except urllib.error.URLError as e:
            reason = e.reason.strerror if isinstance(e.reason, OSError) and e.reason.strerror else e.reason
            if isinstance(e.reason, TimeoutError):
                raise CommandError(f"Prometheus at {self.url} did not answer within {self.timeout:g} s") from None
            raise CommandError(f"cannot reach Prometheus at {self.url} ({self.source.origin}): {reason}") from None
        except OSError as e:
            raise CommandError(f"cannot reach Prometheus at {self.url} ({self.source.origin}): {e}") from None
        return self._data(status, body)

    def _read(self, response: Any) -> bytes:
        body = bytes(response.read(self.max_bytes + 1))
        if len(body) > self.max_bytes:
            bound = f"{self.max_bytes >> 20} MiB" if self.max_bytes >= 1 << 20 else f"{self.max_bytes} bytes"
            raise CommandError(
                f"Prometheus at {self.url} answered more than {bound}: ask for fewer intervals (a longer "
                "--interval or a shorter range)"
            )
        return body

    def _data(self, status: int, body: bytes) -> Any:
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and answer.get("status") in ("success", "error"):
            if answer["status"] == "success" and status < 300:
                return answer.get("data")
            kind = answer.get("errorType") or "error"
            error = str(answer.get("error") or "").replace("\n", " ")[:300]
            raise CommandError(f"Prometheus at {self.url} refused the query ({status} {kind}): {error}")
        if status in (401, 403):
            token = "was refused" if self.source.token else "is needed: --prometheus-token-file or $" + TOKEN_ENV
            raise CommandError(f"{self.url} answered {status}: a bearer token {token}")
        if 300 <= status < 400:
            raise CommandError(f"{self.url} answered {status}, a redirect (not followed): give the URL it redirects to")
        raise CommandError(
            f"{self.url} answered {status} without Prometheus's JSON: is it the base URL of a Prometheus (its "
            "HTTP API under /api/v1/)?"
        )
