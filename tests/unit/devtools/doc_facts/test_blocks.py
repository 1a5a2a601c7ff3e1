import pytest
from devtools.doc_facts.blocks import BlockError, find_blocks, rewritten

DOC = """# Title
<!-- generated:kinds -->
old table
<!-- /generated:kinds -->
text between
  <!-- generated:cli -->
<!-- /generated:cli -->
end
"""


def test_blocks_are_found_with_their_marker_lines():
    assert [(b.name, b.opening, b.closing) for b in find_blocks(DOC)] == [("kinds", 1, 3), ("cli", 5, 6)]


def test_rewriting_replaces_the_bodies_only_between_blank_lines():
    out = rewritten(DOC, lambda name: f"| {name} |\n")
    assert out == DOC.replace("old table\n", "\n| kinds |\n\n").replace(
        "  <!-- generated:cli -->\n", "  <!-- generated:cli -->\n\n| cli |\n\n"
    )
    assert rewritten(out, lambda name: f"| {name} |\n") == out


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("<!-- generated:kinds -->\nbody\n", "line 1: <!-- generated:kinds --> is never closed"),
        ("body\n<!-- /generated:kinds -->\n", "line 2: <!-- /generated:kinds --> closes no block"),
        ("<!-- generated:a -->\n<!-- generated:b -->\n<!-- /generated:b -->\n", "line 2: <!-- generated:b --> inside"),
        ("<!-- generated:a -->\n<!-- /generated:b -->\n", "line 2: <!-- /generated:b --> closes no block"),
    ],
)
def test_broken_markers_are_said_with_their_line(text, said):
    with pytest.raises(BlockError, match=said):
        find_blocks(text)
