from devtools.doc_facts import kinds
from devtools.versions import REPO
from streamops.api.kinds import KINDS


def test_every_kind_of_the_registry_is_a_row_with_its_short_name_and_scope():
    rows = kinds.rows()
    assert [r[0] for r in rows] == [k.kind for k in KINDS]
    assert [(r[1], r[2]) for r in rows] == [(f"`{k.short_name}`", k.scope) for k in KINDS]
    assert len(rows) == len(list((REPO / "crds").glob("*.yaml")))  # what `make crds` writes: one per kind


def test_the_table_has_one_line_per_kind():
    lines = kinds.render().splitlines()
    assert lines[0] == "| Kind | Short name | Scope | What it is |"
    assert [line.split(" | ")[0].removeprefix("| ") for line in lines[2:]] == [k.kind for k in KINDS]
