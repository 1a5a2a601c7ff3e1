"""The "defaults that refuse things" table, from docs/refused-defaults.yaml: a list of {what, message,
allow}, where `message` is what the user sees (a condition's message, an Event, a log line), with
<placeholders> where the code puts a name; tests/unit/devtools/doc_facts/test_refused_defaults.py
checks each message against the strings of operator/streamops and charts/streamops (user_messages)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from devtools.doc_facts.markdown import code, table

SOURCE = Path("docs") / "refused-defaults.yaml"


class Refusal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    what: str = Field(min_length=1, description="What is refused by default (Markdown).")
    message: str = Field(min_length=1, description="The message a user sees, <placeholders> for names.")
    allow: str = Field(min_length=1, description="The value or label that allows it (Markdown).")


def refusals(root: Path) -> list[Refusal]:
    path = root / SOURCE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the refused-defaults block is rendered from it")
    return TypeAdapter(list[Refusal]).validate_python(yaml.safe_load(path.read_text()))


def render(root: Path) -> str:
    return table(
        ["Refused by default", "What you see", "What allows it"],
        [[r.what, code(r.message), r.allow] for r in refusals(root)],
    )
