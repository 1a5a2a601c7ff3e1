import argparse

import pytest
from devtools.doc_facts import cli


def _verbs(parser, prefix):
    """Every leaf verb, walked independently of the renderer: choices of choices."""
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    if sub is None:
        return [prefix]
    return [v for name, child in sub.choices.items() for v in _verbs(child, f"{prefix} {name}")]


def test_every_verb_of_both_parsers_is_a_row():
    rendered = cli.render()
    verbs = [v for prog, parser in cli.programs().items() for v in _verbs(parser, prog)]
    assert "streamops stats" in verbs and "kubectl streamops stats" in verbs
    assert "kubectl streamops record start" in verbs and "streamops worker" in verbs
    for verb in verbs:
        assert f"| `{verb}" in rendered, verb
    assert len(rendered.splitlines()) == 2 + len(verbs)


def test_positionals_are_shown_as_usage_says_them():
    rows = dict(cli.commands(cli.programs()["kubectl streamops"], "kubectl streamops"))
    assert "kubectl streamops status [NAME]" in rows
    assert "kubectl streamops push-url STREAM" in rows
    assert "streamops worker ROLE …" in dict(cli.commands(cli.programs()["streamops"], "streamops"))


def test_a_verb_without_help_is_refused():
    parser = argparse.ArgumentParser(prog="x")
    sub = parser.add_subparsers()
    sub.add_parser("said", help="has help")
    sub.add_parser("silent")
    with pytest.raises(cli.MissingHelp, match="`x silent` has no help"):
        list(cli.commands(parser, "x"))
