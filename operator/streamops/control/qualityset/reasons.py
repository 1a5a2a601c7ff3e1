"""The reasons a quality set's Ready condition gives."""

from streamops.control.shared.conditions import INVALID_SPEC as INVALID_SPEC

ACCEPTED = "Accepted"  # the operator read this generation: its streams get it at their next session
