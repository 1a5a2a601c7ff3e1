#!/usr/bin/env python3
"""`make demo`: a local control plane, the operator, and an example LiveStream, with its status.

Starts the control plane in DIR (or uses the one `make cluster-up` left there), runs
`streamops operator` against it, applies examples/livestream-push.yaml, waits for the operator
to write the stream's status and prints it with the ingest Pod, Service and Secret. Everything
the demo started is stopped at the end unless --keep (then `make cluster-down` stops it).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HACK = Path(__file__).resolve().parent
REPO = HACK.parent
sys.path.insert(0, str(HACK))

from controlplane import ControlPlane  # noqa: E402

STREAMOPS = REPO / ".venv" / "bin" / "streamops"
EXAMPLE = REPO / "examples" / "livestream-push.yaml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=REPO / ".cluster")
    parser.add_argument("--keep", action="store_true", help="leave the control plane and operator running")
    args = parser.parse_args()

    plane = ControlPlane(args.dir)
    was_up = plane.is_up()
    print("control plane:", "already up" if was_up else "starting (etcd, kube-apiserver, kube-controller-manager)")
    plane.start()
    env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig)}

    def kubectl(*a: str) -> str:
        return subprocess.run([str(plane.kubectl), *a], env=env, check=True, capture_output=True, text=True).stdout

    log = args.dir / "logs" / "operator.log"
    operator = None
    try:
        kubectl("apply", "-f", str(REPO / "crds"))
        kubectl(
            "wait",
            "--for",
            "condition=Established",
            "--timeout=60s",
            "crd",
            "-l",
            "app.kubernetes.io/part-of=streamops",
        )
        with log.open("ab") as out:
            operator = subprocess.Popen(
                [str(STREAMOPS), "operator", "--liveness", "http://127.0.0.1:0/healthz"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (args.dir / "operator.pid").write_text(str(operator.pid))
        print(f"operator: running (pid {operator.pid}, log {log})")
        print(f"$ kubectl apply -f {EXAMPLE.relative_to(REPO)}")
        print(kubectl("apply", "-f", str(EXAMPLE)).strip())
        deadline = time.monotonic() + 60
        stream: dict = {}
        while time.monotonic() < deadline:
            stream = json.loads(kubectl("get", "lst", "obs-studio", "-o", "json"))
            if any(c["type"] == "Ready" for c in stream.get("status", {}).get("conditions", [])):
                break
            if operator.poll() is not None:
                raise SystemExit(f"operator exited; see {log}")
            time.sleep(0.5)
        else:
            raise SystemExit(f"no status after 60 s; see {log}")
        time.sleep(1)  # let the Pod event settle the status
        print("\n$ kubectl get livestreams -o wide")
        print(kubectl("get", "livestreams", "-o", "wide"))
        print("$ kubectl get livestream obs-studio -o jsonpath='{.status}'")
        print(json.dumps(json.loads(kubectl("get", "lst", "obs-studio", "-o", "jsonpath={.status}")), indent=2))
        print("\n$ kubectl get pods,services,secrets -l streaming.streamops.dev/stream=obs-studio")
        print(kubectl("get", "pods,services,secrets", "-l", "streaming.streamops.dev/stream=obs-studio"))
        print("No kubelet runs in this local control plane, so the ingest Pod stays Pending and Ready is")
        print("False with reason IngestPending; the end-to-end tier adds a node that runs it.")
    finally:
        if args.keep:
            print(f"\nkept running: export KUBECONFIG={plane.kubeconfig}; stop with `make cluster-down`")
        else:
            if operator is not None and operator.poll() is None:
                os.killpg(operator.pid, signal.SIGTERM)
                try:
                    operator.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(operator.pid, signal.SIGKILL)
            (args.dir / "operator.pid").unlink(missing_ok=True)
            if not was_up:
                plane.stop()
                print("\nstopped the demo's control plane and operator (KEEP=1 keeps them running)")
            else:
                plane.detach()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
