"""The local cluster's address plan: one definition for the cluster that builds the island
(devtools.cluster.network) and for the peers that sit on its LAN (devtools.media: the S3 server's
certificate and relay, restream targets, encoders). Layout: docs/design/local-cluster.md."""

from __future__ import annotations

import ipaddress

FABRIC = ipaddress.ip_network("10.241.0.0/24")  # the LAN: outside, control plane, node addresses
CLUSTER_CIDR = ipaddress.ip_network("10.242.0.0/16")  # Pods; node N has 10.242.N.0/24
SERVICE_CIDR = ipaddress.ip_network("10.243.0.0/16")  # ClusterIPs: only in kube-proxy's rules
RANGES = (FABRIC, CLUSTER_CIDR, SERVICE_CIDR)
OUTSIDE_IP = str(FABRIC[1])  # the LAN's own address (bridge lan0 in the outside namespace)
API_IP = str(FABRIC[2])
API_PORT = 6443
DNS_IP = str(SERVICE_CIDR[10])
CLUSTER_DOMAIN = "cluster.local"
# The cluster's OCI registry (devtools.cluster.lan_registry): a host on the LAN the nodes pull from.
REGISTRY_IP = OUTSIDE_IP
REGISTRY_PORT = 5000
