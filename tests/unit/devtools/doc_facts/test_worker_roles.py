import pytest
from devtools.doc_facts import worker_roles
from streamops.cli.streamops_command import main
from streamops.cli.worker import ROLES, WORKERS


def test_every_role_the_parser_accepts_is_a_row_with_its_line():
    rendered = worker_roles.render()
    assert sorted(worker_roles.parser_roles()) == sorted(WORKERS) == sorted(ROLES)
    for role in WORKERS:
        assert f"| `streamops worker {role}` |" in rendered
    assert len(rendered.splitlines()) == 2 + len(WORKERS)


def test_worker_help_lists_each_role_with_its_line(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["worker", "--help"])
    assert exited.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for role, what in ROLES.items():
        assert f"{role} {what}" in out
