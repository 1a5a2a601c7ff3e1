"""The streamops harness, one copy of each piece, used by tests/, `make demo`, `make cluster-up` and bench/.

- versions: the repository, the cache, the pinned Kubernetes and helm binaries (hack/versions.sh)
- waits, ports, http_client, processes: polling, free loopback ports, plain HTTP probes, process
  bookkeeping (pid files, stop by PID with a start-time check, process trees)
- pki, controlplane, node, images, kubectl: the local control plane (etcd + kube-apiserver +
  kube-controller-manager), the local node (containerd + kubelet + kube-scheduler), its images
- operator_process, cluster, local_pods, stack, demo: the operator as a real process, the cluster
  suite's admin client, worker Pods run as local processes, the whole local stack, `make demo`
- peers, workers: real media peers (nginx-rtmp, srt-live-transmit, ffmpeg) and the workers as processes
- chart, chart_rbac_plugin, catalog: chart generation and helm/Lua/kstatus checks, the pytest plugin
  running the cluster suite under the chart's RBAC, the manifests the suites share
"""
