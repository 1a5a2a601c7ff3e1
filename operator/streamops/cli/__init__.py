"""The command lines: `streamops` (streamops_command.py) and the kubectl plugin `kubectl streamops`
(kubectl_plugin.py, docs/design/kubectl-plugin.md), two parsers over one implementation per verb.

The verbs, one module per group: operator.py, manifests.py (crds, rbac) and worker.py (`streamops`
only); status.py, stream_key.py (push-url, rotate-key), record.py and play.py (`kubectl streamops`
only); playback.py (signed playback URLs, the signing key's rotation), video.py (video links) and
stats.py (a stream's statistics over a date range, from Prometheus through prometheus_api.py, or the
sessions in its status), which both command lines call. What the kubectl verbs print is in render.py
(pure: objects in, text out; stats' rows and tables are stats.py's, pure too), the API client in
kube_connection.py, the port-forward child in port_forward.py, the one-line failure in
command_error.py.
"""
