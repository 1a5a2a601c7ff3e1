"""Publishing: the images and the chart, built here without Docker, pushed to any OCI registry.

    python -m devtools.publish images                     # make images: OCI layouts, printed
    python -m devtools.publish check --registry R          # refuse a registry before anything is built
    python -m devtools.publish push-images --registry R    # make push-images (crane)
    python -m devtools.publish chart-package               # make chart-package -> dist/streamops-<version>.tgz
    python -m devtools.publish push-chart --registry R     # make push-chart (helm push)
    python -m devtools.publish login --registry R          # crane auth login (helm reads Docker's config too)

R is `host[:port][/prefix]`: images go to R/streamops-<name>:<tag>, the chart to oci://R/streamops.
Each image is tagged twice: the chart's appVersion (what the chart's defaults pull) and the content
hash the local cluster already names it by (devtools.cluster.images), both on one manifest.

Plain HTTP, never silently (docs/design/publishing.md): a registry on 127.0.0.0/8 (or `localhost`)
is spoken to over plain HTTP, as Distribution serves by default; any other only over HTTPS with a
certificate this machine trusts, checked here before crane or helm run, because both would otherwise
fall back to plain HTTP by themselves (crane for private addresses on any TLS failure, helm v3 when
the port answers in plain HTTP); `http://R` or `--insecure-registry 1` (make's INSECURE_REGISTRY=1)
is the explicit opt-in, refused for a non-loopback registry without the latter.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from devtools.versions import REPO, VersionsError, built, crane_bin, helm_bin

if TYPE_CHECKING:
    from devtools.cluster.images import ImageBuilder

CHART = REPO / "charts" / "streamops"
DIST = REPO / "dist"
IMAGES_JSON = DIST / "images.json"
# The images a cluster runs from the chart: the operator, the workers, the overlay renderer sidecar, the edge.
PUBLISHED = ("operator", "worker", "overlay", "edge")
INSECURE_HINT = "plain HTTP is allowed only for a registry on 127.0.0.0/8 or with INSECURE_REGISTRY=1"
MISSING_REGISTRY = (
    "REGISTRY is required: host[:port][/prefix], e.g. REGISTRY=ghcr.io/streamops, or "
    "REGISTRY=127.0.0.1:5000/streamops for a registry on this machine"
)
_REPO_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_HOST = re.compile(r"(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]{1,5})?")


class PublishError(RuntimeError):
    """A refusal or a failed step, with the message a person acts on."""


def chart_meta() -> dict[str, Any]:
    return dict(yaml.safe_load((CHART / "Chart.yaml").read_text()))


def app_version() -> str:
    return str(chart_meta()["appVersion"])


def source_url() -> str:
    """The repository the chart names (Chart.yaml `sources`), as the images' source annotation."""
    return str(chart_meta()["sources"][0])


# --- where to push, and over what ------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A registry and the path under it, e.g. host "127.0.0.1:5000", prefix "streamops"."""

    host: str
    prefix: str
    plain_http: bool
    loopback: bool

    def repository(self, name: str) -> str:
        return f"{self.host}/{self.prefix}/{name}" if self.prefix else f"{self.host}/{name}"

    def image(self, name: str, tag: str) -> str:
        return f"{self.repository(name)}:{tag}"

    @property
    def chart_url(self) -> str:
        """Where `helm push` puts the chart: the chart's name is appended, oci://R/streamops."""
        return f"oci://{self.host}/{self.prefix}" if self.prefix else f"oci://{self.host}"


def is_loopback_host(host: str) -> bool:
    """`host` (no port) is an IPv4 address in 127.0.0.0/8, or the name localhost (RFC 6761)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network("127.0.0.0/8")
    except ValueError:
        return False


def _hostname(authority: str) -> str:
    if authority.startswith("["):
        return authority[1 : authority.index("]")]
    return authority.rsplit(":", 1)[0] if ":" in authority else authority


def parse_registry(value: str, insecure: bool = False) -> Target:
    """REGISTRY as the make targets take it: `host[:port][/prefix]`, optionally `http://`/`https://`
    (or `oci://`, as helm writes it) in front. Refused (PublishError) when empty, malformed, or plain
    HTTP to a registry off loopback without `insecure`. Touches no network."""
    value = value.strip()
    if not value:
        raise PublishError(MISSING_REGISTRY)
    scheme = ""
    if m := re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", value):
        scheme, value = m.group(1).lower(), value[m.end() :]
        if scheme not in ("http", "https", "oci"):
            raise PublishError(f"REGISTRY {scheme}://…: use host[:port][/prefix], or http:// / https:// in front")
    host, _, prefix = value.strip("/").partition("/")
    if not _HOST.fullmatch(host):
        raise PublishError(f"REGISTRY {value!r}: {host!r} is not a host[:port]")
    if prefix and not all(_REPO_COMPONENT.fullmatch(part) for part in prefix.split("/")):
        raise PublishError(
            f"REGISTRY {value!r}: the path {prefix!r} is not a repository path (lowercase letters, digits, "
            "'.', '_', '-' between them, '/' between components)"
        )
    loopback = is_loopback_host(_hostname(host))
    if scheme == "http":
        if not (loopback or insecure):
            raise PublishError(f"plain HTTP to {host} refused: {INSECURE_HINT}")
        plain = True
    elif scheme == "https":
        plain = False
    else:
        plain = loopback or insecure
    return Target(host, prefix, plain, loopback)


def require_tls(target: Target, timeout: float = 10.0) -> None:
    """For a registry to be spoken to over HTTPS: see that it answers /v2/ over HTTPS with a
    certificate this machine trusts (200, or 401 before a login), as crane's own first request does.
    Otherwise refuse now: crane and helm would go on in plain HTTP by themselves."""
    if target.plain_http:
        return
    url = f"https://{target.host}/v2/"
    # Proxies from the environment apply, as they do to crane and helm; never to this machine's own.
    opener = urllib.request.build_opener(*([urllib.request.ProxyHandler({})] if target.loopback else []))
    try:
        with opener.open(url, timeout=timeout) as resp:
            status = int(resp.status)
    except urllib.error.HTTPError as e:
        status = int(e.code)
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise PublishError(f"{target.host} does not answer HTTPS ({reason}): {INSECURE_HINT}") from None
    if status not in (200, 401):
        raise PublishError(f"{target.host} answers {url} with HTTP {status}, not a registry's 200 or 401")


def check(registry: str, insecure: bool = False) -> Target:
    """parse_registry, then require_tls: everything that can refuse a push before a build."""
    target = parse_registry(registry, insecure)
    require_tls(target)
    if target.plain_http:
        why = "loopback" if target.loopback else "INSECURE_REGISTRY=1"
        print(f"{target.host}: plain HTTP ({why})", file=sys.stderr)
    return target


def check_release_tag(tag: str) -> None:
    """A release tag (the workflow's git tag) must name the chart's version and appVersion, or what
    is published would not be what the tag says."""
    if not tag:
        return
    meta = chart_meta()
    if tag != f"v{meta['appVersion']}" or tag != f"v{meta['version']}":
        raise PublishError(
            f"RELEASE_TAG={tag}, but Chart.yaml has version {meta['version']} and appVersion {meta['appVersion']}: "
            f"tag v<version> with both equal"
        )


# --- images -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltImage:
    """One published image as `make images` left it (dist/images.json holds a list of these)."""

    name: str  # worker
    repository: str  # streamops-worker
    tags: tuple[str, ...]  # (appVersion, content hash)
    layout: str  # the OCI layout directory
    archive: str  # the docker-archive of the same image (the local cluster's)
    manifest_digest: str
    config_digest: str
    size: int  # bytes a pull downloads (config + compressed layers)


def build_images(names: Sequence[str] = PUBLISHED, log: Callable[[str], None] | None = None) -> list[BuiltImage]:
    """Build (or find cached) the images with devtools.cluster.images, then their OCI layouts under
    $STREAMOPS_CACHE/images/oci; write the list to dist/images.json."""
    images = build_layouts(names, log=log)
    DIST.mkdir(exist_ok=True)
    tmp = IMAGES_JSON.with_suffix(".tmp")
    tmp.write_text(json.dumps([dataclasses.asdict(i) for i in images], indent=1) + "\n")
    tmp.replace(IMAGES_JSON)
    return images


def build_layouts(
    names: Sequence[str] = PUBLISHED, log: Callable[[str], None] | None = None, builder: ImageBuilder | None = None
) -> list[BuiltImage]:
    """build_images without dist/images.json: what the local cluster pushes to its own registry
    (devtools.cluster.local_cluster), with its `builder`."""
    from devtools.cluster.images import ImageBuilder
    from devtools.oci import BlobStore

    say = log or (lambda msg: print(msg, file=sys.stderr))
    builder = builder or ImageBuilder(log=say)
    built = [(name, getattr(builder, name)()) for name in names]
    store = BlobStore(builder.cache / "oci", log=say)
    version = app_version()
    annotations = {"org.opencontainers.image.source": source_url()}
    requests = [(image.archive, store.root / f"{image.repository}-{image.version}", version) for _, image in built]
    layouts = store.write_layouts(requests, annotations)
    store.prune([layout.path for layout in layouts])
    images = [
        BuiltImage(
            name=name,
            repository=image.repository,
            tags=(version, image.version),
            layout=str(layout.path),
            archive=str(image.archive),
            manifest_digest=layout.manifest.digest,
            config_digest=layout.config.digest,
            size=layout.size,
        )
        for (name, image), layout in zip(built, layouts, strict=True)
    ]
    return images


def load_images() -> list[BuiltImage]:
    """What the last `make images` built (dist/images.json), refusing a list that no longer matches
    the layouts on disk or the chart's appVersion."""
    try:
        raw = json.loads(IMAGES_JSON.read_text())
    except FileNotFoundError:
        raise PublishError(f"{IMAGES_JSON.relative_to(REPO)} is missing: run `make images` first") from None
    images = [BuiltImage(**{**entry, "tags": tuple(entry["tags"])}) for entry in raw]
    for image in images:
        index = Path(image.layout) / "index.json"
        if not index.exists() or image.manifest_digest not in index.read_text():
            raise PublishError(f"{image.layout} no longer holds {image.repository}: run `make images` again")
        if image.tags[0] != app_version():
            raise PublishError(
                f"{image.repository} is tagged {image.tags[0]}, the chart says {app_version()}: run `make images`"
            )
    return images


def _crane() -> Path:
    return built(crane_bin(), "build-crane.sh")


def crane(*args: str, target: Target | None = None, timeout: float = 1800) -> str:
    """Run crane (with --insecure only for a plain-HTTP target); its stdout, or PublishError."""
    argv = [str(_crane()), *args, *(["--insecure"] if target is not None and target.plain_http else [])]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise PublishError(f"crane {' '.join(args[:1])} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout


def push_images(target: Target, images: Sequence[BuiltImage], log: Callable[[str], None] | None = None) -> None:
    """Each image's layout pushed under its content-hash tag, then tagged with the others (a manifest
    PUT, no blob moves); the digest the registry reports must be the one built."""
    say = log or print
    for image in images:
        began = time.monotonic()
        first = target.image(image.repository, image.tags[-1])
        pushed = crane("push", image.layout, first, target=target).strip()
        digest = pushed.rpartition("@")[2]
        if digest != image.manifest_digest:
            raise PublishError(f"{first}: the registry has {digest}, {image.manifest_digest} was built")
        for tag in image.tags[:-1]:
            crane("tag", first, tag, target=target)
        tags = ", ".join(image.tags)
        say(f"{target.repository(image.repository)} [{tags}] {digest} ({time.monotonic() - began:.1f}s)")


# --- the chart --------------------------------------------------------------------------------------------


def helm(*args: str, target: Target | None = None, timeout: float = 300) -> str:
    argv = [
        str(built(helm_bin(), "build-helm.sh")),
        *args,
        *(["--plain-http"] if target is not None and target.plain_http else []),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise PublishError(f"helm {args[0]} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-2000:]}")
    return done.stdout + done.stderr


def chart_package(out: Path = DIST) -> Path:
    """`helm package` of charts/streamops into `out`: streamops-<Chart.yaml version>.tgz."""
    out.mkdir(parents=True, exist_ok=True)
    meta = chart_meta()
    helm("package", str(CHART), "--destination", str(out))
    package = out / f"{meta['name']}-{meta['version']}.tgz"
    if not package.exists():
        raise PublishError(f"helm package wrote no {package}")
    return package


def push_chart(target: Target, package: Path) -> tuple[str, str]:
    """`helm push` to oci://R: (the chart's reference, its manifest digest)."""
    said = helm("push", str(package), target.chart_url, target=target)
    pushed = re.search(r"Pushed:\s*(\S+)", said)
    digest = re.search(r"Digest:\s*(sha256:[0-9a-f]{64})", said)
    if not (pushed and digest):
        raise PublishError(f"helm push said neither what nor which digest: {said.strip()[-500:]}")
    return pushed.group(1), digest.group(1)


# --- the command line ---------------------------------------------------------------------------------------


def _human(size: int) -> str:
    return f"{size / (1 << 20):.0f} MiB"


def _insecure(value: str) -> bool:
    v = value.strip().lower()
    if v in ("", "0", "false", "no"):
        return False
    if v in ("1", "true", "yes"):
        return True
    raise PublishError(f"INSECURE_REGISTRY={value!r}: say 1 (allow plain HTTP) or leave it empty")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("images", help="build the published images and their OCI layouts")
    layouts = sub.add_parser(
        "layouts", help="only the OCI layouts of the named images, in the cache (what a local cluster pushes)"
    )
    layouts.add_argument("names", nargs="+", choices=PUBLISHED, metavar="NAME")
    sub.add_parser("chart-package", help="helm package the chart into dist/")
    for name in ("check", "push-images", "push-chart", "login"):
        p = sub.add_parser(name)
        p.add_argument("--registry", default="", help="host[:port][/prefix] (make's REGISTRY)")
        p.add_argument("--insecure-registry", default="", help="1: allow plain HTTP off loopback (INSECURE_REGISTRY)")
        p.add_argument("--release-tag", default="", help="a git tag that must be v<appVersion> (RELEASE_TAG)")
        p.add_argument("--user", default="", help="login: REGISTRY_USER (password: $REGISTRY_PASSWORD)")
    args = parser.parse_args(argv)
    began = time.monotonic()
    try:
        if args.cmd == "images":
            images = build_images()
            for image in images:
                print(
                    f"{image.repository}:{','.join(image.tags)}\t{image.manifest_digest}\t{_human(image.size)}\t{image.layout}"
                )
            print(f"# OCI image layouts (one directory each, gzip layers) listed in {IMAGES_JSON}; "
                  f"{time.monotonic() - began:.1f}s", file=sys.stderr)  # fmt: skip
            return 0
        if args.cmd == "layouts":
            built = build_layouts(args.names)
            print(f"# OCI image layouts of {', '.join(args.names)}: {len(built)} in {time.monotonic() - began:.1f}s",
                  file=sys.stderr)  # fmt: skip
            return 0
        if args.cmd == "chart-package":
            package = chart_package()
            print(package)
            return 0
        target = check(args.registry, _insecure(args.insecure_registry))
        check_release_tag(args.release_tag)
        if args.cmd == "push-images":
            push_images(target, load_images())
            print(f"# pushed in {time.monotonic() - began:.1f}s", file=sys.stderr)
        elif args.cmd == "push-chart":
            ref, digest = push_chart(target, chart_package())
            print(f"{ref} {digest}")
            print(f"# helm install streamops oci://{ref.rpartition(':')[0]} --version {ref.rpartition(':')[2]}",
                  file=sys.stderr)  # fmt: skip
        elif args.cmd == "login":
            user, password = args.user, os.environ.get("REGISTRY_PASSWORD", "")
            if not (user and password):
                raise PublishError("login needs REGISTRY_USER=<user> and the password in $REGISTRY_PASSWORD")
            argv_login = [str(_crane()), "auth", "login", target.host, "--username", user, "--password-stdin"]
            done = subprocess.run(argv_login, input=password, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise PublishError(f"crane auth login {target.host} failed: {done.stderr.strip()[-500:]}")
            print(f"logged in to {target.host} as {user} (crane and helm read the same Docker config)")
    except (PublishError, VersionsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
