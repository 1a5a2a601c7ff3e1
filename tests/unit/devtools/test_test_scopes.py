"""Where a long-lived scope ends on its worker, and which fixtures its processes hang from."""

from devtools.test_scopes import CLUSTER_SCOPE, HOST_SCOPE, scope_ends, scope_root

MULTINODE = "tests/multinode/test_network.py::test_pods_reach_each_other_across_nodes"
E2E = "tests/e2e/test_installed.py::test_push_goes_live_and_serves_hls"
CLUSTER = "tests/cluster/test_livestream.py::test_a_stream"
MEDIA = "tests/media/test_llhls.py::test_parts"


def test_a_scope_goes_on_while_the_next_test_is_in_it() -> None:
    assert scope_ends(E2E, MULTINODE) is None  # e2e and multinode are one scope: one cluster
    assert scope_ends(CLUSTER, "tests/cluster/test_clips.py::test_a_clip") is None


def test_a_scope_ends_before_another_scopes_test_or_at_the_workers_last() -> None:
    assert scope_ends(MULTINODE, MEDIA) == HOST_SCOPE
    assert scope_ends(CLUSTER, None) == CLUSTER_SCOPE
    assert scope_ends(MEDIA, "tests/media/test_llhls.py::test_other") is None
    assert scope_ends(MEDIA, None) == "media/test_llhls.py"  # a module's own scope: no root, nothing stops


def test_only_the_clusters_are_roots() -> None:
    assert scope_root("local_cluster", "tests") == HOST_SCOPE
    assert scope_root("cluster", "tests/cluster") == CLUSTER_SCOPE
    # tests/multinode's `cluster` uses local_cluster: finished with it, not a root of its own
    assert scope_root("cluster", "tests/multinode") is None
    assert scope_root("operator", "tests/cluster") is None
