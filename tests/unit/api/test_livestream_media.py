"""api/livestream_media.py: what the ingest's contract carries of a LiveStream, in a module a worker
imports without the LiveStream's spec and status or the Recording's models; api.livestream names the
same classes (their validation is tested there: test_livestream.py)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import streamops.api.livestream as livestream
import streamops.api.livestream_media as media
from pydantic import ValidationError


def test_api_livestream_names_every_public_name_as_the_same_object() -> None:
    tree = ast.parse(Path(media.__file__).read_text())
    defined = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    defined += [t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)]
    public = [name for name in defined if not name.startswith("_")]
    assert len(public) > 40
    assert [name for name in public if getattr(livestream, name, None) is not getattr(media, name)] == []


def test_it_builds_no_custom_resource_model() -> None:
    probe = "import json, sys, streamops.api.livestream_media; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    loaded = [m for m in json.loads(out.stdout) if m.startswith("streamops.api.")]
    assert "streamops.api.livestream" not in loaded and "streamops.api.recording" not in loaded, loaded


def test_its_checks_hold_without_the_spec() -> None:
    with pytest.raises(ValidationError, match="cmaf"):
        media.HLS.model_validate({"cmaf": False, "latencyMode": "low"})
    with pytest.raises(ValidationError, match="tls"):
        media.PushSource.model_validate({"protocols": ["rtmps"]})
