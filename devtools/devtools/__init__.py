"""The streamops harness, one copy of each piece, used by tests/, `make demo`, `make cluster-up` and bench/.

- devtools.cluster: what stands up a Kubernetes cluster (control plane, nodes, images, network
  island, add-ons, chart release, the operator as a process, kubectl)
- devtools.media: what stands up the media peers (publishers, nginx-rtmp, SRT, S3, the browser and
  its clock source, HLS viewers, the workers as processes)
- shared by both, here: versions, waits, ports, http_client, processes, netns, pki, address_plan;
  for the suites: catalog (shared manifests), fake_kube (the operator's API adapter in memory)
- tools, here: chart (`make chart`), chart_rbac_plugin (`make test-cluster-chart-rbac`), demo
  (`make demo`), import_rules (`make lint`)

Layout and the one dependency across the groups: docs/design/test-harness.md.
"""
