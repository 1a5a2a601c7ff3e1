"""The cluster installs the way a real one does (issue 38): streamops' images and chart are in the
registry on the cluster's LAN (pushed there by devtools.publish, what `make push-images push-chart`
run), the release came from `helm install oci://…`, and the nodes' containerd pulled the images
from that registry: none was imported into a node.
"""

from __future__ import annotations

import json
import re

from devtools.cluster.local_cluster import PULLED, LocalCluster, go_seconds
from devtools.cluster.release import NAMESPACE, RELEASE, Release
from devtools.http_client import http_get

OURS = ("streamops-operator", "streamops-worker", "streamops-overlay", "streamops-edge")


def test_the_registry_holds_the_images_and_the_chart_the_release_came_from(
    cluster: LocalCluster, release: Release
) -> None:
    registry = f"http://{cluster.registry.portal_address}"
    for image in cluster.published:
        tags = json.loads(http_get(f"{registry}/v2/streamops/{image.repository}/tags/list")[1])["tags"]
        # Every tag published, and no other but an upgrade's `<tag>-next` (test_handover.py tags the
        # worker's manifest again for its helm upgrade: the suite shares one registry).
        assert set(image.tags) <= set(tags), image.repository
        assert all(t in image.tags or t.removesuffix("-next") in image.tags for t in tags), (image.repository, tags)
    chart_tags = json.loads(http_get(f"{registry}/v2/streamops/streamops/tags/list")[1])["tags"]
    assert chart_tags == [cluster.chart_version]
    # helm records where the release's chart came from only in its own output: the release is the
    # chart's version, and its values name the registry's repositories.
    values = json.loads(release.helm("get", "values", RELEASE, "-n", NAMESPACE, "-o", "json"))
    assert values["worker"]["image"]["repository"] == f"{cluster.registry.lan_address}/streamops/streamops-worker"
    assert values["worker"]["image"]["pullPolicy"] == "IfNotPresent"


def test_the_nodes_pulled_streamops_images_from_the_lan_registry(cluster: LocalCluster, release: Release) -> None:
    digests = {image.repository: image.manifest_digest for image in cluster.published}
    # Nothing of ours was imported: a node holds streamops' images only under the registry's name.
    for node in cluster.nodes:
        held = node.ctr("images", "ls", "-q").split()
        imported = [name for name in held if name.startswith(tuple(f"docker.io/library/{r}:" for r in OURS))]
        assert not imported, f"{node.name} has imported images: {imported}"
    # The operator's Pods run the image the registry serves, by the digest that was pushed.
    pods = release.operator_pods()
    assert pods
    lan = cluster.registry.lan_address
    for pod in pods:
        status = pod["status"]["containerStatuses"][0]
        assert status["image"] == cluster.image_ref(cluster.operator_image), status
        assert status["imageID"] == f"{lan}/streamops/streamops-operator@{digests['streamops-operator']}", status
        node = cluster.node(pod["spec"]["nodeName"])
        assert cluster.image_ref(cluster.operator_image) in node.ctr("images", "ls", "-q").split()
    # The registry's access log: the nodes themselves (their LAN addresses) fetched the manifest.
    log = cluster.registry.access_log.read_text()
    manifest_gets = re.compile(
        r'^(\S+) - - \[[^]]*\] "GET /v2/streamops/streamops-operator/manifests/[^"]*" 200 .*"(\S+)"$', re.M
    )
    fetched_by = {(m.group(1), m.group(2).partition("/")[0]) for m in manifest_gets.finditer(log)}
    running_on = {cluster.network.node(pod["spec"]["nodeName"]).ip for pod in pods}
    pulled_by = {(ip, "containerd") for ip in running_on}
    assert pulled_by <= fetched_by, f"manifest GETs by {fetched_by}; the nodes' containerd: {pulled_by}"
    events = json.loads(cluster.kubectl("get", "events", "-n", NAMESPACE, "-o", "json").stdout)["items"]
    pulls = [
        f"{e['source'].get('host', '?')} {m.group(1).rpartition('/')[2]} {go_seconds(m.group(2)):.1f}s"
        for e in events
        if (m := PULLED.search(e.get("message", "")))
    ]
    print(f"\n# operator image pulled from {lan}: {pulls}")
