"""The smallest JSON merge patch that turns one status into another (None: nothing to write)."""

from __future__ import annotations

from streamops.kube.manifests import Manifest


def status_patch(old: Manifest | None, new: Manifest) -> Manifest | None:
    old = old or {}
    patch: Manifest = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(before, dict) and isinstance(value, dict):
            nested = status_patch(before, value)
            if nested is not None:
                patch[key] = nested
        elif before != value:
            patch[key] = value  # lists (conditions, videos) are replaced whole by a merge patch
    # A merge patch removes a field only when told null: observations that vanished must go.
    patch.update({key: None for key in old if key not in new})
    return patch or None
