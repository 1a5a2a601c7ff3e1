"""The make targets with their `##` help, read from the Makefile as `make help` reads it (its grep and
awk: a target line `name: … ## help`, the help after the last `## `)."""

from __future__ import annotations

import re
from pathlib import Path

from devtools.doc_facts.markdown import code, table, text
from devtools.versions import REPO

TARGET = re.compile(r"^([a-z0-9-]+):.*## (.*)$")  # make help's grep -E '^[a-z0-9-]+:.*## '


def targets(makefile: Path = REPO / "Makefile") -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2).strip()) for line in makefile.read_text().splitlines() if (m := TARGET.match(line))]


def render() -> str:
    return table(["Target", "What it does"], [[code(f"make {name}"), text(what)] for name, what in targets()])
