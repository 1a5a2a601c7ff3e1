import pytest
from devtools.doc_facts import refused_defaults
from devtools.doc_facts.user_messages import occurs
from devtools.versions import REPO
from pydantic import ValidationError


def test_every_documented_message_is_one_the_operator_or_chart_says():
    refusals = refused_defaults.refusals(REPO)
    assert refusals
    for refusal in refusals:
        assert occurs(refusal.message), f"not in operator/streamops or charts/streamops: {refusal.message!r}"


def test_the_table_has_a_row_per_refusal(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/refused-defaults.yaml").write_text(
        "- {what: A *thing*, message: 'No <name> | here', allow: 'value `x: true`'}\n"
    )
    assert refused_defaults.render(tmp_path).splitlines()[2] == "| A *thing* | `No <name> \\| here` | value `x: true` |"


def test_a_malformed_list_fails_clearly(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/refused-defaults.yaml").write_text("- {what: a, message: b, allows: c}\n")
    with pytest.raises(ValidationError, match="allow"):
        refused_defaults.render(tmp_path)
    (tmp_path / "docs/refused-defaults.yaml").unlink()
    with pytest.raises(FileNotFoundError, match=r"refused-defaults\.yaml is missing"):
        refused_defaults.render(tmp_path)
