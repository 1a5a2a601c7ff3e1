"""What a Clip's reconcile found (observe.py reads it; plan.py decides from it): pure data, what every
kind that stores videos finds (a Clip reads nothing of its own: its clipper is the worker)."""

from __future__ import annotations

from streamops.control.storage.storing_observation import StoringObserved

Observed = StoringObserved
