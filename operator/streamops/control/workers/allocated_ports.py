"""With host networking: the ports allocated to a stream's primary ingest, read from its Service
(what its recorders and pushers read their feed from). The one read of ingest_address.py's names."""

from __future__ import annotations

from streamops.api import LiveStream
from streamops.control.workers.ingest_address import IngestPortMap, ingest_names
from streamops.control.workers.ports import ports_of
from streamops.kube.reads import KubeReads


def allocated_ingest_ports(api: KubeReads, stream: LiveStream) -> IngestPortMap | None:
    """With host networking: the ports of the stream's primary ingest, which its recorders and
    pushers read their feed from (None until the stream's reconcile allocated them)."""
    service = api.get("Service", stream.metadata.namespace or "", ingest_names(stream.metadata.name, "primary").service)
    return ports_of(service) or None
