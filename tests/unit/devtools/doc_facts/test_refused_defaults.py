import pytest
from devtools.doc_facts import refused_defaults
from devtools.doc_facts.user_messages import occurs
from devtools.versions import REPO
from pydantic import ValidationError


def test_every_documented_message_is_one_the_operator_or_chart_says():
    refusals = refused_defaults.refusals(REPO)
    assert [r for r in refusals if r.message is not None]
    for refusal in refusals:
        if refusal.message is not None:
            assert occurs(refusal.message), f"not in operator/streamops or charts/streamops: {refusal.message!r}"


def test_the_table_has_a_row_per_refusal(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/refused-defaults.yaml").write_text(
        "- {what: A *thing*, message: 'No <name> | here', allow: 'value `x: true`'}\n"
        "- {what: Scrapes, symptom: targets *down*, allow: a value}\n"
    )
    assert refused_defaults.render(tmp_path).splitlines()[2:] == [
        "| A *thing* | `No <name> \\| here` | value `x: true` |",
        "| Scrapes | targets *down* | a value |",
    ]


def test_a_malformed_list_fails_clearly(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/refused-defaults.yaml").write_text("- {what: a, message: b, allows: c}\n")
    with pytest.raises(ValidationError, match="allow"):
        refused_defaults.render(tmp_path)
    for both_or_neither in ("{what: a, message: b, symptom: c, allow: d}", "{what: a, allow: d}"):
        (tmp_path / "docs/refused-defaults.yaml").write_text(f"- {both_or_neither}\n")
        with pytest.raises(ValidationError, match="either `message`"):
            refused_defaults.render(tmp_path)
    (tmp_path / "docs/refused-defaults.yaml").unlink()
    with pytest.raises(FileNotFoundError, match=r"refused-defaults\.yaml is missing"):
        refused_defaults.render(tmp_path)
