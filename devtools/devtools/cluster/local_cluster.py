#!/usr/bin/env python3
"""A multi-node Kubernetes cluster with a real pod network, on this machine, without Docker.

    python -m devtools.cluster.local_cluster up     --dir DIR [--nodes 2]
    python -m devtools.cluster.local_cluster status --dir DIR
    python -m devtools.cluster.local_cluster down   --dir DIR      # exits 1 and names anything left behind

    from devtools.cluster.local_cluster import LocalCluster
    with LocalCluster(d, nodes=2) as cluster:
        cluster.kubectl("get", "nodes")           # admin kubectl through the API portal
        with netns.entered(cluster.network.outside): ...  # a client on the cluster's LAN

The island (devtools.cluster.network), its control plane and N nodes (containerd, kubelet,
kube-proxy, the CNI bridge), CoreDNS and Traefik, and an OCI registry on its LAN
(devtools.cluster.lan_registry) that streamops' images and chart are pushed to with devtools.publish
(what `make push-images push-chart` run) and the nodes pull from; the add-ons' images (not ours)
are imported into every node: docs/design/local-cluster.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Self

from devtools import netns
from devtools.address_plan import CLUSTER_CIDR, CLUSTER_DOMAIN, DNS_IP, SERVICE_CIDR
from devtools.cluster import addons
from devtools.cluster.api_reads import ApiRefused
from devtools.cluster.controlplane import ControlPlane, ControlPlaneError
from devtools.cluster.images import Image, ImageBuilder
from devtools.cluster.kubectl import Kubectl
from devtools.cluster.lan_registry import LanRegistry, RegistryError
from devtools.cluster.network import ClusterNetwork, NetworkError
from devtools.cluster.node import Node
from devtools.cluster.recordings_volume import provide_recordings_volume
from devtools.http_client import http_get
from devtools.media.peers import Publisher
from devtools.media.reconnecting_publisher import NeverLive, ReconnectingPublisher
from devtools.processes import Lifecycle, print_status
from devtools.publish import (
    PUBLISHED,
    BuiltImage,
    build_layouts,
    chart_meta,
    chart_package,
    check,
    push_chart,
    push_images,
)
from devtools.versions import REPO
from devtools.waits import eventually

DEFAULT_NODES = 2
# The kubelet's Event after a pull (kubelet 1.33): image, then a Go duration ("12.3s", "1m2.3s", "850ms").
PULLED = re.compile(r'Successfully pulled image "([^"]+)" in ([0-9.hms]+)')
PUBLISH_FROM_LAN_TIMEOUT = 30  # s for a LAN encoder's connection to hold, retries included
INGRESS_NODE_PORT = 30080  # Traefik's web entrypoint on every node (a fixed NodePort)


def go_seconds(duration: str) -> float:
    """A Go time.Duration's String() ("1m2.5s", "850ms", "3.2s") in seconds."""
    total = 0.0
    for number, unit in re.findall(r"([0-9.]+)(h|ms|m|s)", duration):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total


STEER_TAINT = "streamops.test/steer=away"  # scheduling_away_from()


class LocalCluster(Kubectl, Lifecycle):
    """The island, its control plane and `nodes` nodes rooted in `dir`; kubectl as the admin."""

    def __init__(
        self,
        dir: Path,
        nodes: int = DEFAULT_NODES,
        *,
        builder: ImageBuilder | None = None,
        ingress_controller: bool = True,
        overlay: bool = True,
        policy_engine: bool = True,
    ) -> None:
        """`ingress_controller`: Traefik on every node (Ingress and HTTPRoute playback); the demo,
        which uses neither, goes without (its build is ≈6 min of a cold first run). `overlay`: the
        overlay renderer's image in the registry (HTML overlays); a demo that is torn down at its end
        uses none and goes without (its Chromium layer is a minute of a cold first run's CPU).
        `policy_engine`: kube-network-policies on every node, enforcing NetworkPolicies (the chart's
        and the workers'); that demo goes without it too (its build is ≈2 CPU-minutes), and says so."""
        self.dir = Path(dir).resolve()
        self.ingress_controller = ingress_controller
        self.overlay = overlay
        self.policy_engine = policy_engine
        self.builder = builder or ImageBuilder()
        self.network = ClusterNetwork(self.dir, nodes)
        self.plane = ControlPlane(self.dir, network=self.network)
        self.registry = LanRegistry(self.dir, self.network)
        super().__init__(self.plane.kubectl, self.plane.kubeconfig, timeout=60)
        self.nodes = [
            Node(
                self.dir, self.plane, builder=self.builder, address=a, extra_images=self.infrastructure_images,
                registry=self.registry.lan_address, policy_engine=policy_engine,
            )
            for a in self.network.nodes
        ]  # fmt: skip
        self.timings: dict[str, float] = {}
        self.published: list[BuiltImage] = []  # what start() pushed to the registry
        self.chart_version = str(chart_meta()["version"])
        self._images: list[Image] | None = None

    # -- images ---------------------------------------------------------------------------

    def infrastructure_images(self) -> list[Image]:
        """Imported into every node besides pause: the add-ons (CoreDNS and, with the ingress
        controller, Traefik). They are not streamops' and no chart of ours names them; a real
        cluster's come with its distribution, not from the registry its users push to."""
        if self._images is None:
            self._images = [self.builder.coredns()]
            if self.ingress_controller:
                self._images.append(self.builder.traefik())
        return self._images

    def published_names(self) -> tuple[str, ...]:
        """streamops' images this cluster's release runs, pushed to its registry (devtools.publish
        names): the edge only with the ingress controller (it serves what routes bring), the overlay
        renderer only when asked."""
        left_out = {*(() if self.ingress_controller else ("edge",)), *(() if self.overlay else ("overlay",))}
        return tuple(n for n in PUBLISHED if n not in left_out)

    def build_images(self) -> list[Image]:
        ours = [getattr(self.builder, name)() for name in self.published_names()]
        return [self.builder.pause(), *ours, *self.infrastructure_images()]

    def image_ref(self, image: Image) -> str:
        """The reference a Pod names `image` by: the cluster's registry, as the nodes reach it."""
        return f"{self.registry.repository(image.repository)}:{image.version}"

    @property
    def chart_ref(self) -> str:
        """`helm install` of the chart pushed by start(): oci://<the registry's loopback portal>/streamops/streamops."""
        return f"oci://{self.registry.push_registry}/streamops"

    @property
    def operator_image(self) -> Image:
        return self.builder.operator()

    @property
    def worker_image(self) -> Image:
        return self.builder.worker()

    @property
    def edge_image(self) -> Image | None:
        return self.builder.edge() if self.ingress_controller else None

    @property
    def overlay_image(self) -> Image | None:
        """The overlay renderer sidecar's (built with the others, pulled by a node only when a
        stream has overlays); None for a cluster without it."""
        return self.builder.overlay() if self.overlay else None

    def import_images(self, images: Sequence[Image]) -> None:
        """Add-ons' images (not streamops': those come from the registry) into every node's
        containerd, in parallel: what a test that deploys an add-on needs first."""
        with concurrent.futures.ThreadPoolExecutor(len(self.nodes)) as pool:
            for f in [pool.submit(n.import_images, images) for n in self.nodes]:
                f.result()

    def publish(self) -> None:
        """streamops' images (OCI layouts, both tags) and the chart pushed to the cluster's registry
        by devtools.publish, the code `make images push-images push-chart` runs; a second push moves
        nothing. Through the loopback portal: plain HTTP by publish's rule for 127.0.0.0/8."""
        target = check(self.registry.push_registry)
        began = time.monotonic()
        self.published = build_layouts(self.published_names(), log=print, builder=self.builder)
        self.timings["image layouts"] = round(time.monotonic() - began, 1)
        push_images(target, self.published, log=lambda line: print(f"# pushed {line}", file=sys.stderr))
        push_chart(target, chart_package(self.dir / "chart"))
        self.timings["push"] = round(time.monotonic() - began - self.timings["image layouts"], 1)

    def pull_images(self, images: Sequence[Image], timeout: float = 600) -> dict[str, float]:
        """Have every node pull `images` from the registry now, as an image pre-pull DaemonSet does
        (one Pod per node running `true`, IfNotPresent), so that a test's own Pods start without
        waiting for ≈340 MiB (the overlay). Returns the kubelet's pull time in seconds per
        "<node> <image>" (its Event "Successfully pulled image … in Xs"; none for an image the node
        already had)."""
        suffix = uuid.uuid4().hex[:6]
        pods = {f"prepull-{suffix}-{node.name}": node.name for node in self.nodes}
        containers = [
            {"name": f"i{i}", "image": self.image_ref(image), "imagePullPolicy": "IfNotPresent", "command": ["true"]}
            for i, image in enumerate(images)
        ]
        self.apply_objects([
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod, "namespace": "kube-system"},
             "spec": {"nodeName": node, "restartPolicy": "Never", "containers": containers}}
            for pod, node in pods.items()
        ])  # fmt: skip
        try:
            for pod in pods:
                eventually(partial(self._pod_succeeded, pod), timeout=timeout, interval=1,
                           what=f"pod kube-system/{pod} (the pull) Succeeded")  # fmt: skip
            events = self.list("events", "kube-system")
            pulled = {}
            for event in events:
                node = pods.get(event["involvedObject"].get("name", ""))
                found = PULLED.search(event.get("message", ""))
                if node and event.get("reason") == "Pulled" and found:
                    pulled[f"{node} {found.group(1).rpartition('/')[2]}"] = go_seconds(found.group(2))
            return pulled
        finally:
            self.delete("pods", "kube-system", *pods, missing_ok=True)

    def _pod_succeeded(self, name: str, namespace: str = "kube-system") -> bool:
        return bool(((self.get("pods", namespace, name) or {}).get("status") or {}).get("phase") == "Succeeded")

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, timeout: float = 300.0) -> Self:
        try:
            self._timed("network", self.network.up)
            self._timed("registry", self.registry.start)
            self._timed("control plane", lambda: self.plane.start(timeout=timeout))
            # Built once, before the nodes start in parallel (each then finds them in the cache).
            self._timed("images", self.build_images)
            # Nodes in parallel (each imports the add-ons' images into its own containerd), and
            # streamops' images and chart pushed to the registry meanwhile, and the Gateway API's CRDs
            # applied (they need only the API server): Traefik's start then waits for none of it.
            with concurrent.futures.ThreadPoolExecutor(len(self.nodes) + 2) as pool:
                began = time.monotonic()
                pushed = pool.submit(self.publish)
                crds = pool.submit(self._timed, "Gateway API CRDs", self._apply_gateway_crds)
                for f in [pool.submit(n.start, timeout) for n in self.nodes]:
                    f.result()
                self.timings["nodes Ready"] = round(time.monotonic() - began, 1)
                pushed.result()
                crds.result()
            # CoreDNS and Traefik side by side: neither needs the other, each waits on its own rollout.
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                addons_up = [pool.submit(self._timed, "cluster DNS", self._start_dns)]
                if self.ingress_controller:
                    addons_up.append(pool.submit(self._timed, "ingress controller", self._start_ingress_controller))
                for up in addons_up:
                    up.result()
        except BaseException:
            with contextlib.suppress(Exception):
                self.stop()
            raise
        return self

    def _timed(self, what: str, step: Any) -> None:
        began = time.monotonic()
        step()
        self.timings[what] = round(time.monotonic() - began, 1)

    def stop(self) -> list[str]:
        """Stop every node (side by side: each has its own processes, mounts and cgroups), the control
        plane and the island; returns what was left behind."""
        with concurrent.futures.ThreadPoolExecutor(max(1, len(self.nodes))) as pool:
            for f in [pool.submit(node.stop) for node in self.nodes]:
                with contextlib.suppress(Exception):
                    f.result()
        self.plane.stop()
        self.registry.stop()
        self.network.down()
        return self.leftovers()

    def detach(self) -> None:
        for node in self.nodes:
            node.detach()
        self.plane.detach()
        self.registry.detach()

    def status(self) -> dict[str, bool]:
        st = {f"control-plane/{k}": v for k, v in self.plane.status().items()}
        st |= {f"registry/{k}": v for k, v in self.registry.status().items()}
        for node in self.nodes:
            st |= {f"{node.name}/{k}": v for k, v in node.status().items()}
        return st

    def is_up(self) -> bool:
        st = self.status()
        return bool(st) and all(st.values())

    def leftovers(self) -> list[str]:
        """Processes, mounts, cgroups, network namespaces (and with them interfaces, routes and
        iptables rules) this cluster made that still exist."""
        out = [f"process {p.name} {p.pid}" for p in self.plane.procs.read() if p.alive]
        out += [f"etcd data {self.plane.etcd_data}"] if self.plane.etcd_data.exists() else []
        out += [f"registry: {x}" for x in self.registry.leftovers()]
        for node in self.nodes:
            out += [f"{node.name}: {x}" for x in node.leftovers()]
        return out + self.network.leftovers()

    # -- nodes ----------------------------------------------------------------------------

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def stop_node(self, name: str) -> None:
        """Node loss: the node's kubelet, kube-proxy, containers and containerd are gone (killed,
        not drained), and its address answers no more."""
        node = self.node(name)
        node.stop()
        with contextlib.suppress(netns.NetnsError):
            netns.ip("link", "set", "eth0", "down", netns=node.address.netns if node.address else None)

    def start_node(self, name: str, timeout: float = 180.0) -> None:
        node = self.node(name)
        if node.address:
            netns.ip("link", "set", "eth0", "up", netns=node.address.netns)
            # eth0 going down (stop_node) took the routes through it along: without them the node's
            # Pods answer nothing from another node's Pods (the operator's /status reads).
            for other in self.network.nodes:
                if other.ip != node.address.ip:
                    netns.ip(
                        "route", "replace", other.pod_cidr, "via", other.ip, "dev", "eth0", netns=node.address.netns
                    )
        node.start(timeout)

    def diagnose(self, ns: str) -> str:
        """Objects, Events and the in-cluster operator's log tail: what a failing wait prints."""
        out = [self.kubectl("get", "pods,svc,lst,rec,rst", "-n", ns, "-o", "wide", check=False).stdout]
        out.append(self.kubectl("get", "events", "-n", ns, "--sort-by=.lastTimestamp", check=False).stdout[-3000:])
        # The replica holding the leader election Lease is the one that reconciles.
        try:
            lease = self.get("leases", "streamops-system", "streamops") or {}
        except AssertionError:  # (what a failing wait prints must not fail itself)
            lease = {}
        leader = (lease.get("spec") or {}).get("holderIdentity")
        which = f"pod/{leader}" if leader else "deploy/streamops"
        logs = self.kubectl("logs", "-n", "streamops-system", which, "--tail=3000", check=False)
        # kopf logs every handler call at debug level: the rest is what tells a story
        lines = [ln for ln in logs.stdout.splitlines() if not ln.startswith(("Handler '", "Indexer '"))]
        return "\n".join([*out, "--- operator log tail:", *lines[-40:], logs.stderr])

    # -- the LAN (outside the cluster) ---------------------------------------------------------

    def lan_encoder(self, url: str, output_args: Sequence[str] = ()) -> Publisher:
        """A synthetic encoder on the cluster's LAN (640x360, 30 fps, with audio; `output_args` for the
        connection, e.g. TLS verification), not started."""
        return Publisher(url, size="640x360", rate=30, audio=True, netns=self.network.outside, output_args=output_args)

    def publish_from_lan(
        self,
        url: str,
        started: list[Publisher],
        output_args: Sequence[str] = (),
        make: Callable[[], Publisher] | None = None,
        live: Callable[[], Any] | None = None,
    ) -> Publisher:
        """An encoder on the LAN pushing to `url` (lan_encoder's, or one `make` returns, not started)
        until its connection holds (each one started is appended to `started`, for the caller to
        stop). Like OBS it tries again when refused, with the demo's backoff (kube-proxy programs a
        new endpoint a moment after the Pod turns Ready); once one has held for 2 s, or sooner once
        `live()` holds (the stream's status says it is live: only a publisher that got through makes
        it so, while the stream had none live before), it is returned and no longer replaced when it
        exits."""
        make = make or (lambda: self.lan_encoder(url, output_args))
        encoders = ReconnectingPublisher(make, on_start=started.append).start()

        def held() -> bool:
            current = encoders.current
            if current is None or not current.running:
                return False
            return time.monotonic() - (current.started_at or 0) >= 2 or (live is not None and bool(live()))

        try:
            encoders.wait_live(
                held, timeout=PUBLISH_FROM_LAN_TIMEOUT, what="the LAN encoder's connection", interval=0.1
            )
        except NeverLive as e:
            encoders.stop()
            raise AssertionError(str(e)) from None
        encoders.detach()
        assert encoders.current is not None
        return encoders.current

    def lan_get(self, url: str, timeout: float = 5.0) -> tuple[int, bytes]:
        """http_get from the cluster's LAN: what a viewer outside the cluster gets."""
        with netns.entered(self.network.outside):
            return http_get(url, timeout)

    def lan_get_via_ingress(self, url: str, timeout: float = 5.0) -> tuple[int, bytes]:
        """GET `url` (http://<host>/<path>, as status.playback shows with an Ingress or HTTPRoute)
        from the LAN through the ingress controller: what a viewer gets whose DNS points <host> at
        the cluster's front door (here Traefik's NodePort on node-1), Host header and all."""
        parts = urllib.parse.urlsplit(url)
        request = urllib.request.Request(
            urllib.parse.urlunsplit(("http", self.ingress_address, parts.path, parts.query, "")),
            headers={"Host": parts.netloc},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with netns.entered(self.network.outside):
            try:
                with opener.open(request, timeout=timeout) as resp:
                    return int(resp.status), resp.read()
            except urllib.error.HTTPError as e:
                return int(e.code), e.read()
            except OSError:
                return 0, b""

    # -- add-ons --------------------------------------------------------------------------

    @contextlib.contextmanager
    def scheduling_away_from(self, nodes: Sequence[str]) -> Iterator[None]:
        """New Pods are not scheduled on `nodes` while inside (a NoSchedule taint none tolerates): a
        test's way to place a Pod. Not a cordon: a cordon is the operator's drain signal, which hands
        the live ingests on the node over (docs/design/handover.md)."""
        key, _, value = STEER_TAINT.partition("=")
        for node in nodes:
            self._set_steer_taint(node, {"key": key, "value": value, "effect": "NoSchedule"})
        try:
            yield
        finally:
            for node in nodes:
                self._set_steer_taint(node, None)

    def _set_steer_taint(self, node: str, taint: dict[str, str] | None) -> None:
        """`kubectl taint node NODE KEY=VALUE:NoSchedule --overwrite` (None: `KEY:NoSchedule-`) through the API:
        the node's other taints kept, the list replaced as kubectl's patch does."""
        key = STEER_TAINT.partition("=")[0]

        def patched() -> bool:
            found = self.get("nodes", "", node)
            assert found is not None, f"no node {node}"
            taints = (found.get("spec") or {}).get("taints") or []
            kept = [t for t in taints if not (t["key"] == key and t["effect"] == "NoSchedule")]
            # The read's resourceVersion: a taint the node controller added since is not written over (409).
            patch = {"metadata": {"resourceVersion": found["metadata"]["resourceVersion"]},
                     "spec": {"taints": kept + ([taint] if taint else [])}}  # fmt: skip
            try:
                self.patch("nodes", "", node, patch)
            except ApiRefused as e:
                if e.status != 409:
                    raise
                return False
            return True

        eventually(patched, timeout=30, interval=0.1, what=f"node {node}'s taints written")

    def apply_objects(self, objects: Sequence[dict[str, Any]]) -> None:
        """Apply objects of any namespaces (each names its own, or is cluster-scoped)."""
        self.apply("", *objects)

    def apply_server_side(self, objects: Sequence[dict[str, Any]], manager: str = "streamops-local-cluster") -> None:
        """Apply objects server-side: for those too big for client-side apply's last-applied annotation
        (256 KiB: the Prometheus Operator's and cert-manager's larger CRDs)."""
        self.apply("", *objects, manager=manager)

    def wait_not_terminating(self, kind: str, *names: str, timeout: float = 180) -> None:
        """Until none of these cluster-scoped objects (a namespace, CRDs) is being deleted: one an earlier
        test removed with --wait=false may still be going, and what is applied to it goes with it."""

        def settled() -> bool:
            items = [obj for name in names if (obj := self.get(kind, "", name)) is not None]
            return not any(i["metadata"].get("deletionTimestamp") for i in items)

        eventually(settled, timeout=timeout, interval=1, what=f"{kind} {', '.join(names)} no longer terminating")

    def rollout(self, namespace: str, *deployments: str, timeout: float = 180) -> None:
        """Wait until each Deployment has rolled out (its new Pods Ready), as `kubectl rollout status` says."""
        for name in deployments:
            self.wait_rollout("deployments", namespace, name, timeout)

    def _start_dns(self) -> None:
        reverse = [str(CLUSTER_CIDR), str(SERVICE_CIDR)]
        image = self.builder.coredns().short
        self.apply_objects(addons.coredns_manifests(image, DNS_IP, CLUSTER_DOMAIN, reverse_cidrs=reverse))
        self.wait_rollout("deployments", "kube-system", "coredns", timeout=120)

    def _apply_gateway_crds(self) -> None:
        """The Gateway API's CRDs Established: what Traefik's Gateway provider watches from its start.
        Without their descriptions (addons.without_descriptions: nothing here reads them)."""
        if self.ingress_controller:
            crds = addons.gateway_api_manifests(crds_only=True)
            self.apply_objects([addons.without_descriptions(crd) for crd in crds])
            self.wait_established("gateways.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io")

    def _start_ingress_controller(self) -> None:
        """Traefik (Ingress and Gateway API routes from one binary) on every node at INGRESS_NODE_PORT:
        the front door viewers on the LAN use for status.playback's Ingress/HTTPRoute URLs. The
        Gateway API's CRDs are Established first (_apply_gateway_crds, beside the nodes' start)."""
        self.apply_objects(addons.traefik_manifests(self.builder.traefik().short, INGRESS_NODE_PORT))
        self.wait_ingress_controller()

    def wait_ingress_controller(self, timeout: float = 120) -> None:
        """Until Traefik's Pod on every node is available (after a node's loss and return too)."""
        self.wait_rollout("daemonsets", addons.TRAEFIK_NAMESPACE, "traefik", timeout)

    @property
    def ingress_address(self) -> str:
        """host:port of the ingress controller as the LAN reaches it (any node's address: each has a
        Traefik of its own, externalTrafficPolicy Local)."""
        return f"{self.network.nodes[0].ip}:{INGRESS_NODE_PORT}"

    def ingress_controller_cidrs(self) -> list[str]:
        """Traefik's Pod addresses, each a /32: what the session's release trusts as a proxy
        (playback.trustedProxyCIDRs). Exactly these, not the Pod range: kube-proxy masquerades a
        NodePort's clients into a node's bridge address, which is in it."""
        pods = self.list("pods", addons.TRAEFIK_NAMESPACE, "app.kubernetes.io/name=traefik")
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        return sorted({f"{ip}/32" for p in live if (ip := (p.get("status") or {}).get("podIP"))})

    def install_crds(self) -> None:
        self.kubectl("apply", "-f", str(REPO / "crds"))
        self.wait_established(selector="app.kubernetes.io/part-of=streamops")

    def recordings_volume(self, namespace: str, node: str) -> Path:
        """A `local` volume on `node` (a directory of this machine: the host sees the videos) pre-bound
        to the namespace's recordings claim; every Pod of the claim then runs on `node`."""
        return provide_recordings_volume(self, self.dir / "recordings" / namespace, namespace, node=node)

    def pods_on(self, node: str, namespace: str | None = None) -> list[dict[str, Any]]:
        scope = ["-n", namespace] if namespace else ["-A"]
        out = self.kubectl("get", "pods", *scope, "--field-selector", f"spec.nodeName={node}", "-o", "json")
        return list(json.loads(out.stdout)["items"])

    def wait_ready_nodes(self, count: int, timeout: float = 120) -> None:
        def ready() -> bool:
            nodes = self.list("nodes", "")
            ok = [
                n for n in nodes
                if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
            ]  # fmt: skip
            return len(ok) >= count

        eventually(ready, timeout=timeout, interval=1, what=f"{count} Ready nodes")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("up", "down", "status"):
        p = sub.add_parser(name)
        p.add_argument("--dir", type=Path, required=True, help="state directory (certs, logs, pids, node roots)")
        p.add_argument("--nodes", type=int, default=DEFAULT_NODES)
        if name == "up":
            p.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    cluster = LocalCluster(args.dir, args.nodes)
    if args.cmd == "up":
        began = time.monotonic()
        try:
            cluster.start(timeout=args.timeout)
        except (ControlPlaneError, NetworkError, RegistryError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        cluster.detach()
        steps = ", ".join(f"{k} {v}s" for k, v in cluster.timings.items())
        print(f"# cluster of {args.nodes} nodes up in {time.monotonic() - began:.1f}s ({steps})", file=sys.stderr)
        print(f"export KUBECONFIG={cluster.plane.kubeconfig}")
        return 0
    if args.cmd == "down":
        began = time.monotonic()
        left = cluster.stop()
        print(f"# cluster stopped in {time.monotonic() - began:.1f}s", file=sys.stderr)
        if left:
            print("error: left behind: " + ", ".join(left), file=sys.stderr)
            return 1
        return 0
    return print_status(cluster.status(), f"server: {cluster.plane.procs.meta.get('server', '')}")


if __name__ == "__main__":
    sys.exit(main())
