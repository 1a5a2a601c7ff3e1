"""The local Kubernetes clusters: a control plane, real nodes with their images, the pod-network
island with its add-ons, the chart installed into it, and the operator as a process beside it; plus
the cluster suite's admin client and the kubelet stand-in its worker Pods run under. Built on the
base modules of devtools; docs/design/local-cluster.md, docs/design/test-harness.md."""
