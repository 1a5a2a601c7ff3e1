"""The docs' `kubectl get lst` sample (devtools/doc_facts/kubectl_get.py, the README's kubectl-get
block) is what kubectl prints: the LiveStream CRD served under a group of its own (no operator
watches it, so the samples' statuses stay as written) and a kind of its own, with no short name or
category (the cluster tier's kubectl and API server are shared: a second `LiveStream` kind with
`lst` would answer every other test's `kubectl get lst`, and kubectl's discovery cache would keep
it after the CRD is gone), each sample created and its status written
through the status subresource, then `kubectl get` against the real API server. Only AGE differs:
the API server sets creationTimestamp itself."""

from __future__ import annotations

import json

from devtools.cluster.suite import Cluster
from devtools.doc_facts import kubectl_get
from streamops.api import VERSION
from streamops.api.crd import crd_manifest
from streamops.api.kinds import LIVESTREAM

GROUP = "docfacts.streamops.test"
KIND, PLURAL = "KubectlGetSample", "kubectlgetsamples"
CRD = f"{PLURAL}.{GROUP}"


def test_the_docs_sample_is_what_kubectl_prints(cluster: Cluster, namespace: str):
    crd = crd_manifest(LIVESTREAM)
    crd["metadata"] = {"name": CRD}
    crd["spec"]["group"] = GROUP
    crd["spec"]["names"] = {"kind": KIND, "listKind": f"{KIND}List", "plural": PLURAL, "singular": PLURAL[:-1]}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(crd))
    try:
        cluster.wait_established(CRD)
        for sample in kubectl_get.SAMPLES:  # through the API client: a kubectl process each costs ≈0.5 s
            name = sample["metadata"]["name"]
            stream = {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": {"name": name}}
            cluster.custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, {**stream, "spec": sample["spec"]}
            )
            cluster.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, PLURAL, name, {"status": sample["status"]}
            )
        printed = cluster.kubectl("get", CRD, "-n", namespace).stdout.splitlines()
    finally:
        cluster.kubectl("delete", "crd", CRD, "--wait=false")

    documented = kubectl_get.render().splitlines()[2:-1]
    assert printed[0] == documented[0]
    age = documented[0].index("AGE")  # every column before it as wide in both
    assert [line[:age] for line in printed[1:]] == [line[:age] for line in documented[1:]]
