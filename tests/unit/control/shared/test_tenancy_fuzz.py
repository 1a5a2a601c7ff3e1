"""Fuzzed: the tenancy checks of what a LiveStream's author writes (control.shared.tenancy): a
playback path the check lets through lies under /streams/<namespace>/ however a proxy resolves it,
and an annotation key passes only by a pattern of the admin's. Settings: tests/unit/conftest.py."""

from __future__ import annotations

import posixpath
import re
from fnmatch import fnmatchcase

from hypothesis import example, given
from hypothesis import strategies as st
from streamops.api.livestream import ROUTE_PATH_PATTERN
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.tenancy import namespace_prefix, playback_path_refusal, refused_annotations

SETTINGS = OperatorSettings()
namespaces = st.sampled_from(["media", "ns", "ns2", "a"])
segments = st.sampled_from(
    ["streams", "media", "ns", "ns2", "cam", ".", "..", "...", "~", "-", "a.b", "."]
) | st.from_regex(r"[A-Za-z0-9._~-]{1,6}", fullmatch=True)
# What the API takes (ROUTE_PATH_PATTERN), and what it does not.
paths = st.one_of(
    st.builds(
        lambda ns, rest: namespace_prefix(ns) + "/".join(rest),
        namespaces,
        st.lists(st.sampled_from([".", "..", "cam", "other", ""]) | segments, max_size=4),
    ),
    st.lists(segments, max_size=7).map(lambda s: "/" + "/".join(s)),
    st.text(max_size=40),
)


@given(paths, namespaces)
@example("/streams/media/..", "media")  # a proxy resolves it to /streams/: every namespace's URLs
@example("/streams/media/../other/cam", "media")
def test_a_path_let_through_lies_under_the_namespaces_prefix_once_resolved(path: str, namespace: str) -> None:
    if playback_path_refusal("spec.playback.path", path, namespace, SETTINGS.tenancy) is not None:
        return
    prefix = namespace_prefix(namespace)
    assert path.startswith(prefix)
    resolved = posixpath.normpath(path)  # RFC 3986's dot-segment removal, as proxies do it
    assert (resolved + "/").startswith(prefix), resolved
    if re.fullmatch(ROUTE_PATH_PATTERN, path):
        assert "/./" not in path + "/" and "/../" not in path + "/"


keys = st.from_regex(r"([a-z0-9.-]{1,20}/)?[A-Za-z0-9._-]{1,20}", fullmatch=True) | st.text(max_size=30)
patterns = st.lists(keys | st.sampled_from(["*", "cert-manager.io/*", "[", "*/*", "?"]), max_size=4)


@given(st.lists(keys, max_size=6), patterns)
@example(["[a]"], ["[a]"])  # a key named as it is passes, though as a pattern `[a]` matches only `a`
def test_an_annotation_passes_only_by_a_pattern_of_the_admins(annotations: list[str], allowed: list[str]) -> None:
    refused = refused_annotations(annotations, allowed)
    assert refused == sorted(refused)
    for key in annotations:
        assert (key in refused) != (key in allowed or any(fnmatchcase(key, p) for p in allowed))
        if key in allowed:
            assert key not in refused
