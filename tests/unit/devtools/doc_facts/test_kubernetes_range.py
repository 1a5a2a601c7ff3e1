import pytest
from devtools.doc_facts import kubernetes_range
from devtools.versions import VERSIONS_SH


def _chart(tmp_path, constraint):
    path = tmp_path / "Chart.yaml"
    path.write_text(f'kubeVersion: "{constraint}"\n')
    return path


@pytest.mark.parametrize(
    ("constraint", "found"),
    [(">=1.30.0-0", ("1.30", None)), (">=1.29.0", ("1.29", None)), (">=1.30.0-0 <1.35.0-0", ("1.30", "1.35"))],
)
def test_the_charts_constraint_is_read(tmp_path, constraint, found):
    assert kubernetes_range.chart_range(_chart(tmp_path, constraint)) == found


def test_a_constraint_it_cannot_say_fails_clearly(tmp_path):
    with pytest.raises(ValueError, match=r"is not >=X\.Y\.0-0"):
        kubernetes_range.chart_range(_chart(tmp_path, "^1.30"))


def test_the_sentence_has_the_charts_floor_and_the_tested_version():
    lowest, _ = kubernetes_range.chart_range()
    tested = kubernetes_range.tested_version()
    assert f'KUBE_VERSION="${{KUBE_VERSION:-v{tested}}}"' in VERSIONS_SH.read_text()
    rendered = kubernetes_range.render()
    assert rendered.startswith(f"Kubernetes {lowest} or newer")
    assert f"runs Kubernetes {tested} " in rendered
