"""The overlay renderer sidecar of an ingest Pod: which overlays are composited and the renderer's
configuration and container."""

from __future__ import annotations

from streamops.api import LiveStream
from streamops.api.livestream import Overlay
from streamops.contract.egress_policy import configured_policy
from streamops.contract.overlay import CONFIG_ENV as OVERLAY_CONFIG_ENV
from streamops.contract.overlay import OVERLAY_DIR, OverlayRendererConfig, RenderedOverlay, box_pixels
from streamops.control.shared.settings import OperatorSettings
from streamops.kube.manifests import Manifest

OVERLAY_VOLUME = "overlays"
OVERLAY_TMP_VOLUME = "overlay-tmp"


def composited_overlays(stream: LiveStream) -> list[Overlay]:
    """The overlays composited, enabled or not, bottom first: by zIndex, equal ones in list order (a
    stable sort). A disabled one is a transparent PNG: `enabled` reaches the ingest by POST /overlays
    (overlays.py), so switching it leaves the Pod (its spec hash) as it is. None without a ladder,
    inline or a quality set (the API refuses that; an older object may have it)."""
    spec = stream.spec
    if not (spec.overlays and spec.has_ladder):
        return []
    return sorted(spec.overlays, key=lambda o: o.z_index)


def overlay_renderer_config(stream: LiveStream) -> OverlayRendererConfig | None:
    """The renderer sidecar's configuration: each overlay's page (enabled or not: it opens those the
    switch turns on) with a viewport of its box in pixels of the tallest rendition (16:9 assumed;
    FFmpeg scales it to the real box)."""
    overlays = composited_overlays(stream)
    ladder = stream.spec.transcoding.renditions if stream.spec.transcoding is not None else []
    if not overlays or not ladder:
        return None  # (a quality set not resolved: no Pod is built from such a stream)
    tallest = max(r.height for r in ladder)
    rendered = []
    for o in overlays:
        width, height = box_pixels(o.width, o.height, tallest)
        rendered.append(
            RenderedOverlay(name=o.name, url=o.url, width=width, height=height, allowed_hosts=o.allowed_hosts)
        )
    return OverlayRendererConfig(stream=stream.metadata.name, overlays=rendered, directory=OVERLAY_DIR)


# The renderer: Chromium's browser, GPU and one renderer process per page. Measured (bench-overlays,
# bench/results/overlays.md): one page changing every second ≈10 % of a core, ≈430 MiB PSS.
OVERLAY_RESOURCES: Manifest = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"memory": "1536Mi"},
}


def overlay_sidecar(stream: LiveStream, settings: OperatorSettings) -> Manifest | None:
    """The container rendering the overlays into the volume it shares with the ingest."""
    config = overlay_renderer_config(stream)
    if config is None:
        return None
    # Where the renderer's Chromium may go (docs/design/egress.md): unchanged when the admin set nothing.
    config.egress = configured_policy(
        settings.egress.allow_cidrs, settings.egress.cluster_cidrs, settings.cluster_domain
    )
    return {
        "name": "overlay",
        "image": settings.worker.overlay_image,
        "imagePullPolicy": settings.worker.overlay_image_pull_policy,
        "args": ["worker", "overlay"],
        "env": [{"name": OVERLAY_CONFIG_ENV, "value": config.to_json()}],
        "resources": OVERLAY_RESOURCES,
        "volumeMounts": [
            {"name": OVERLAY_VOLUME, "mountPath": OVERLAY_DIR},
            # Chromium's throwaway profile and its shared memory files (--disable-dev-shm-usage):
            # the root filesystem is read-only.
            {"name": OVERLAY_TMP_VOLUME, "mountPath": "/tmp"},
        ],
    }
