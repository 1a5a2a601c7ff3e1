"""The kinds table: every kind of the API's registry (streamops.api.kinds.KINDS), with its short name,
scope and description as its generated CRD carries them (what `kubectl explain` shows)."""

from __future__ import annotations

from streamops.api.crd import crd_manifest
from streamops.api.kinds import KINDS

from devtools.doc_facts.markdown import code, table, text


def rows() -> list[list[str]]:
    found = []
    for kind in KINDS:
        crd = crd_manifest(kind)
        names = crd["spec"]["names"]
        what = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["description"]
        found.append([names["kind"], ", ".join(code(s) for s in names["shortNames"]), crd["spec"]["scope"], text(what)])
    return found


def render() -> str:
    return table(["Kind", "Short name", "Scope", "What it is"], rows())
