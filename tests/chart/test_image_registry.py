"""`imageRegistry`: one value moves the operator, worker, overlay and edge images to a registry of
one's own (`<imageRegistry>/streamops-<name>`), an image's own `repository` still winning; unset,
the images are ghcr.io/streamops's, as before the value existed."""

from __future__ import annotations

from typing import Any

import pytest
from devtools.chart import CHART, find, helm, objects, render

APP_VERSION = "0.1.0"


def images(*sets: str) -> dict[str, str]:
    """operator, worker, overlay, edge → the image the rendering names."""
    objs = objects(render(sets=("edge.enabled=true", *sets)))
    (deployment,) = find(objs, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env: dict[str, Any] = {e["name"]: e.get("value") for e in container["env"]}
    return {
        "operator": container["image"],
        "worker": env["STREAMOPS_WORKER_IMAGE"],
        "overlay": env["STREAMOPS_OVERLAY_IMAGE"],
        "edge": env["STREAMOPS_EDGE_IMAGE"],
    }


def test_the_default_registry_is_ghcr() -> None:
    assert images() == {name: f"ghcr.io/streamops/streamops-{name}:{APP_VERSION}" for name in images()}


def test_image_registry_moves_every_image() -> None:
    got = images("imageRegistry=registry.example.com:5000/media")
    assert got == {name: f"registry.example.com:5000/media/streamops-{name}:{APP_VERSION}" for name in got}


def test_an_images_own_repository_and_tag_win() -> None:
    got = images(
        "imageRegistry=registry.example.com/media",
        "worker.image.repository=mirror.example.org/w",
        "worker.image.tag=abc123",
        "edge.image.repository=mirror.example.org/e",
    )
    assert got == {
        "operator": f"registry.example.com/media/streamops-operator:{APP_VERSION}",
        "worker": "mirror.example.org/w:abc123",
        "overlay": f"registry.example.com/media/streamops-overlay:{APP_VERSION}",
        "edge": f"mirror.example.org/e:{APP_VERSION}",
    }


@pytest.mark.parametrize("registry", ["https://registry.example.com", "Registry.example.com", "reg/"])
def test_a_registry_that_is_not_a_repository_path_is_refused(registry: str) -> None:
    result = helm("template", "streamops", str(CHART), "--set", f"imageRegistry={registry}", check=False)
    assert result.returncode != 0 and "imageRegistry" in result.stderr, result.stderr
