"""What a command line that talks to the cluster imports (cli/kube_connection.py): kopf, whose login
KubeApi uses, would load the `kubernetes` and `kubernetes_asyncio` clients when installed (0.8 s of
the 2.1 s of CPU `streamops playback url` took); no command uses them, so neither is loaded, and a
process that imports them afterwards (a test's) still can."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# `streamops video url` against a kubeconfig whose server refuses at once: the verb logs in and asks
# (the refused connection keeps its traceback, cli/streamops_command.py); then which clients it had
# loaded, and whether they still import.
PROBE = """
import json, sys
from streamops.cli.streamops_command import main
try:
    code = main(["video", "url", "rec", "-n", "team"])
except ConnectionRefusedError:
    code = "refused"
loaded = sorted(m for m in ("kubernetes", "kubernetes_asyncio", "kopf") if sys.modules.get(m) is not None)
import kubernetes
print(json.dumps({"code": code, "loaded": loaded}))
"""

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:9"}}]
users: [{name: u, user: {token: not-a-secret}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: team}}]
current-context: x
"""


def test_a_cluster_verb_loads_no_kubernetes_client(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    env = {"KUBECONFIG": str(kubeconfig), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.splitlines()[-1])
    assert answer == {"code": "refused", "loaded": ["kopf"]}, (answer, done.stderr)
