"""A LiveStream's status.overlays[].state as the overlay renderer reports it: named by the API and by
the worker contract alike, so defined here, below both, in a module without models (the renderer
imports no custom resource's model: docs/design/lean-workers.md). api.common re-exports it."""

from __future__ import annotations

from typing import Literal

OverlayState = Literal["rendering", "failing", "disabled"]
