import pytest
from devtools.doc_facts.json_path import JsonPathError, first_result

OBJ = {
    "status": {
        "live": False,
        "viewers": {"total": 3},
        "videos": [{"durationSeconds": 61.5}],
        "conditions": [{"type": "Live", "status": "False"}, {"type": "Ready", "status": "True"}],
    }
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (".status.live", False),
        (".status.viewers.total", 3),
        (".status.videos[0].durationSeconds", 61.5),
        ('.status.conditions[?(@.type=="Ready")].status', "True"),
        ('.status.conditions[?(@.type=="Stalled")].status', None),
        (".status.activeIngest", None),
        (".status.videos[3].durationSeconds", None),
    ],
)
def test_the_printer_columns_paths_give_the_first_result_or_none(path, value):
    assert first_result(path, OBJ) == value


@pytest.mark.parametrize("path", [".status.videos[*].durationSeconds", "{.status.live}", ".status..live"])
def test_a_path_it_cannot_evaluate_is_refused_by_name(path):
    with pytest.raises(JsonPathError, match="cannot evaluate the JSONPath"):
        first_result(path, OBJ)
