"""The commands of `streamops` and `kubectl streamops`, walked from their argparse parsers (every verb,
its nested actions, its positional arguments and its help), so that a verb added to a parser is in the
docs' table at the next `make docs`."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from streamops.cli import kubectl_plugin, streamops_command

from devtools.doc_facts.markdown import code, table, text


class MissingHelp(ValueError):
    pass


def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def _positionals(parser: argparse.ArgumentParser) -> list[str]:
    words = []
    for action in parser._actions:
        if action.option_strings or isinstance(action, argparse._SubParsersAction):
            continue
        name = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
        if action.nargs == argparse.REMAINDER:
            words.append("…")
        elif action.nargs == "?":
            words.append(f"[{name}]")
        else:
            words.append(name)
    return words


def commands(parser: argparse.ArgumentParser, prefix: str) -> Iterator[tuple[str, str]]:
    """(command line, help) of every leaf verb under `parser`, in the parser's order."""
    sub = _subcommands(parser)
    if sub is None:
        return
    helps = {a.dest: a.help for a in sub._choices_actions}
    for name, child in sub.choices.items():
        line = f"{prefix} {name}"
        if _subcommands(child) is not None:
            yield from commands(child, line)
            continue
        what = helps.get(name)
        if not what:
            raise MissingHelp(f"`{line}` has no help in its parser")
        yield " ".join([line, *_positionals(child)]), str(what)


def programs() -> dict[str, argparse.ArgumentParser]:
    return {"streamops": streamops_command.parser(), kubectl_plugin.PROG: kubectl_plugin.parser()}


def render() -> str:
    rows = [[code(line), text(what)] for prog, parser in programs().items() for line, what in commands(parser, prog)]
    return table(["Command", "What it does"], rows)
