"""The roles of `streamops worker ROLE`: the choices of the worker parser's ROLE argument, each with
its line of `streamops worker --help` (streamops.cli.worker.ROLES)."""

from __future__ import annotations

import argparse

from streamops.cli import streamops_command
from streamops.cli.worker import ROLES

from devtools.doc_facts.markdown import code, table, text


def parser_roles() -> list[str]:
    """The ROLE argument's choices, as `streamops worker` accepts them."""
    sub = next(a for a in streamops_command.parser()._actions if isinstance(a, argparse._SubParsersAction))
    worker = sub.choices["worker"]
    role = next(a for a in worker._actions if a.metavar == "ROLE")
    return list(role.choices or ())


def render() -> str:
    roles = parser_roles()
    undescribed = sorted(set(roles) - set(ROLES))
    if undescribed:
        raise ValueError(f"streamops worker roles without a line in streamops.cli.worker.ROLES: {undescribed}")
    return table(
        ["Role", "What it runs"], [[code(f"streamops worker {r}"), text(ROLES[r])] for r in ROLES if r in roles]
    )
