"""What a Kubernetes object is to the control plane: plain data, shared where it repeats."""

from __future__ import annotations

import json

from streamops.kube.manifests import plain


def test_plain_copies_share_keys_and_short_strings_between_objects():
    text = '{"metadata": {"name": "cam", "uid": "0b8f3c52-0d5a-4bb5-9d1a-6f1de0bd7e3a"}, "spec": {"type": "ClusterIP"}}'
    one, two = plain(json.loads(text)), plain(json.loads(text))
    assert one == two == json.loads(text)
    (key_one,), (key_two,) = one["spec"], two["spec"]
    assert key_one is key_two and one["spec"]["type"] is two["spec"]["type"], "one copy for every object"
    assert one["metadata"]["uid"] is not two["metadata"]["uid"], "a uid is each object's own: not interned"
