"""`streamops crds` and `streamops rbac`: the manifests generated from the operator's own code (the
CRDs from the API models, the ClusterRole from what the operator does)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def write_crds(args: argparse.Namespace) -> int:
    from streamops.api.crd import crd_files

    out = Path(args.out)
    files = crd_files()
    if args.check:
        stale = [n for n, text in files.items() if not (out / n).is_file() or (out / n).read_text() != text]
        extra = sorted(p.name for p in out.glob("*.yaml") if p.name not in files)
        if stale or extra:
            print(f"{out}/ is stale ({', '.join(stale + extra)}): run `make crds`", file=sys.stderr)
            return 1
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text)
        print(out / name)
    return 0


def write_rbac(args: argparse.Namespace) -> int:
    import yaml

    from streamops.control.runtime.rbac import cluster_role

    print(yaml.safe_dump(cluster_role(args.name), sort_keys=False), end="")
    return 0
