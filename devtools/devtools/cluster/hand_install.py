"""What a by-hand `helm install` on the local cluster needs (README, "Try the chart by hand"), written
by `make cluster-up NODES=2` into the cluster's directory:

- `values.yaml`: the images built here as the nodes pull them from the cluster's registry
  (10.241.0.1:5000/streamops/streamops-*, their content-hash tags, pullPolicy IfNotPresent), ingest
  Services on NodePorts with node-1's address for status URLs, and `crds.enabled: false`
  (cluster-up applied `crds/` with kubectl, which a release cannot adopt);
- `registry.env`: REGISTRY, the cluster's registry as this machine reaches it (its loopback portal:
  `make push-images push-chart REGISTRY=$REGISTRY`, `helm install oci://$REGISTRY/streamops`), and
  CHART_VERSION, the chart's version;
- `recordings-volume.yaml`: the local cluster has no storage provisioner, so the recordings claim
  of namespace `default` gets a `local` volume on node-1 (a directory of this machine, where the
  videos can be seen), as an admin would provide one;
- `lan.env`: LAN_NETNS, the network namespace of the cluster's LAN, where the URLs in status work
  (an encoder or a player runs there: `nsenter --net=/run/netns/$LAN_NETNS …`).

    python -m devtools.cluster.hand_install --dir .cluster
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.recordings_volume import RECORDINGS_CLAIM, recordings_volume_objects
from devtools.cluster.release import Release

VOLUME_NAMESPACE = "default"
VOLUME_NODE = "node-1"


def hand_install_files(cluster: LocalCluster) -> dict[str, str]:
    """File name → text (YAML; JSON is YAML) of the values and the recordings volume."""
    if not cluster.registry.portal_address:
        raise SystemExit(f"the cluster's registry is not running in {cluster.dir}: make cluster-up NODES=2 first")
    values = Release(cluster, {"crds": {"enabled": False}, "operator": {"verbose": False}}).values
    directory = cluster.dir / "recordings" / VOLUME_NAMESPACE
    items = recordings_volume_objects(directory, VOLUME_NAMESPACE, RECORDINGS_CLAIM, VOLUME_NODE)
    return {
        "values.yaml": "# helm install … -f values.yaml: this local cluster's images and addresses\n"
        + json.dumps(values, indent=2)
        + "\n",
        "recordings-volume.yaml": json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=2) + "\n",
        "lan.env": f"LAN_NETNS={cluster.network.outside}\n",
        "registry.env": f"REGISTRY={cluster.registry.push_registry}\nCHART_VERSION={cluster.chart_version}\n",
    }


def write_hand_install_files(cluster: LocalCluster) -> list[Path]:
    directory = cluster.dir / "recordings" / VOLUME_NAMESPACE
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o777)  # a local volume gets no fsGroup; the workers run as uid 10001
    written = []
    for name, text in hand_install_files(cluster).items():
        path = cluster.dir / name
        path.write_text(text)
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dir", type=Path, required=True, help="the local cluster's directory")
    args = parser.parse_args(argv)
    for path in write_hand_install_files(LocalCluster(args.dir)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
