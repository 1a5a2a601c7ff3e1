"""The images of the local cluster (devtools.cluster.images): a static image of one Go binary."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from devtools.cluster.images import ImageBuilder


def test_a_static_image_keeps_its_binary_where_upstreams_does(tmp_path: Path) -> None:
    """The Prometheus Operator sets /bin/prometheus-config-reloader as the command and mounts the TSDB
    at /prometheus: the binary at a path of its own, directories included, the tag following it."""
    binary = tmp_path / "reloader"
    binary.write_bytes(b"\x7fELF not really")
    binary.chmod(0o755)
    builder = ImageBuilder(tmp_path / "cache", log=lambda _msg: None)
    config = {"Entrypoint": ["/bin/prometheus-config-reloader"], "User": "65532:65532", "WorkingDir": "/"}
    image = builder._static("reloader", binary, "never-run.sh", config, "/bin/prometheus-config-reloader")
    with tarfile.open(image.archive) as archive:
        manifest = json.load(archive.extractfile("./manifest.json"))  # type: ignore[arg-type]
        layer = archive.extractfile(f"./{manifest[0]['Layers'][0]}").read()  # type: ignore[union-attr]
    with tarfile.open(fileobj=io.BytesIO(layer)) as files:
        members = {m.name: m for m in files.getmembers()}
    assert set(members) == {".", "./bin", "./bin/prometheus-config-reloader"}
    assert members["./bin/prometheus-config-reloader"].mode & 0o777 == 0o755
    assert builder._static("reloader", binary, "never-run.sh", config).version != image.version  # path in the tag
