import re
import subprocess

from devtools.doc_facts import make_targets
from devtools.versions import REPO


def test_the_targets_are_what_make_help_prints():
    printed = subprocess.run(
        ["make", "--no-print-directory", "-s", "help"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    listed = [line.split(None, 2)[1:] for line in printed.splitlines() if line.startswith("  make ")]
    assert [[name, what] for name, what in make_targets.targets()] == listed
    assert (
        "docs-check",
        "fail when a generated block of the Markdown docs is stale or missing where it is required",
    ) in (make_targets.targets())


def test_the_table_escapes_what_markdown_would_read_as_html():
    rendered = make_targets.render()
    assert (
        "| `make chart-package` | helm package charts/streamops into dist/streamops-&lt;Chart.yaml version&gt;.tgz |"
        in (rendered)
    )


def test_lint_checks_the_docs_so_make_test_and_make_check_do():
    makefile = (REPO / "Makefile").read_text()
    lint = re.search(r"^lint:.*\n(?:\t.*\n)*", makefile, re.M)
    assert lint and "-m devtools.doc_facts check" in lint.group(0)
    for rule in ("test", "check"):
        recipe = re.search(rf"^{rule}:.*\n(?:\t.*\n)*", makefile, re.M)
        assert recipe and " lint " in recipe.group(0), f"make {rule} runs lint"
