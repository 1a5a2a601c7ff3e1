from datetime import timedelta

import pytest
import yaml
from devtools.doc_facts import kubectl_get
from devtools.doc_facts.json_path import JsonPathError
from devtools.versions import REPO


def test_the_header_is_the_crds_default_printer_columns_in_order():
    crd = yaml.safe_load((REPO / "crds" / "livestreams.streaming.streamops.dev.yaml").read_text())
    columns = crd["spec"]["versions"][0]["additionalPrinterColumns"]
    expected = ["NAME", *(c["name"].upper() for c in columns if not c.get("priority"))]
    lines = kubectl_get.render().splitlines()
    assert lines[:2] == ["```console", "$ kubectl get lst"]
    assert lines[2].split() == expected == kubectl_get.header()
    assert lines[-1] == "```"


def test_the_rows_are_the_samples_through_the_columns_aligned_as_kubectl():
    lines = kubectl_get.render().splitlines()[2:-1]
    assert len(lines) == 1 + len(kubectl_get.SAMPLES)
    # Each column starts where its header does (tabwriter: widest cell + 3, at least 6).
    starts = [lines[0].index(name) for name in kubectl_get.header()]
    for line, sample in zip(lines[1:], kubectl_get.SAMPLES, strict=True):
        assert line.startswith(sample["metadata"]["name"] + " ")
        cells = [sample["metadata"]["name"], *(kubectl_get.cell(c, sample) for c in kubectl_get.default_columns())]
        for start, value in zip(starts, cells, strict=True):
            assert line[start:].startswith(value)
    assert lines[1].split() == ["match-day", "true", "primary", "true", "1284", "True", "134m"]
    assert lines[2].split() == ["rehearsal", "false", "false", "0", "True", "3d4h"]  # no one on air: empty


@pytest.mark.parametrize(
    ("d", "said"),
    [
        (timedelta(seconds=-1), "0s"),
        (timedelta(seconds=119), "119s"),
        (timedelta(minutes=5, seconds=12), "5m12s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(minutes=179), "179m"),
        (timedelta(hours=3, minutes=5), "3h5m"),
        (timedelta(hours=47), "47h"),
        (timedelta(days=3, hours=4), "3d4h"),
        (timedelta(days=30), "30d"),
        (timedelta(days=365 * 2 + 10), "2y10d"),
        (timedelta(days=365 * 9), "9y"),
    ],
)
def test_ages_read_as_kubectl_says_them(d, said):
    assert kubectl_get.human_duration(d) == said


def test_a_column_it_cannot_evaluate_fails_clearly():
    column = {"name": "Bad", "type": "string", "jsonPath": ".status.videos[*].title"}
    with pytest.raises(JsonPathError, match=r"\.status\.videos\[\*\]\.title"):
        kubectl_get.cell(column, kubectl_get.SAMPLES[0])
