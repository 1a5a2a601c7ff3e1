"""The "defaults that refuse things" table, from docs/refused-defaults.yaml: a list of {what, message,
allow}, where `message` is what the user reads (a condition's message, a status field, an Event),
copied from the code with <placeholders> where the code puts a value; a row whose user reads no
message (scrapes that time out) says so in `symptom` instead. tests/unit/devtools/doc_facts/
test_refused_defaults.py finds each message in the strings of operator/streamops and charts/streamops
(user_messages), so the table cannot drift from what users see."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from devtools.doc_facts.markdown import code, table

SOURCE = Path("docs") / "refused-defaults.yaml"


class Refusal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    what: str = Field(min_length=1, description="What is refused by default (Markdown).")
    message: str | None = Field(
        default=None, min_length=1, description="What the user reads, <placeholders> for values."
    )
    symptom: str | None = Field(
        default=None, min_length=1, description="What happens, where no message says it (Markdown)."
    )
    allow: str = Field(min_length=1, description="The value or label that allows it (Markdown).")

    @model_validator(mode="after")
    def message_or_symptom(self) -> Refusal:
        if (self.message is None) == (self.symptom is None):
            raise ValueError("give either `message` (what the code says, checked against it) or `symptom`")
        return self

    @property
    def seen(self) -> str:
        return code(self.message) if self.message is not None else str(self.symptom)


def refusals(root: Path) -> list[Refusal]:
    path = root / SOURCE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the refused-defaults block is rendered from it")
    return TypeAdapter(list[Refusal]).validate_python(yaml.safe_load(path.read_text()))


def render(root: Path) -> str:
    return table(
        ["Refused by default", "What you see", "What allows it"], [[r.what, r.seen, r.allow] for r in refusals(root)]
    )
