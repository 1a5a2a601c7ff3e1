"""The operator's Events about an object with client fields (spec.clientUserId / clientEntityData,
a Recording's from its stream): kopf's event API takes no annotations, so these are created here,
in the shape kopf gives its own (same reportingComponent, so `kubectl describe` shows one source),
annotated with streaming.streamops.dev/client-user-id and …/client-entity-data. Events about an
object without them still go through kopf. Why: docs/design/client-fields.md."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import kopf

from streamops.control.runtime.state import OperatorState
from streamops.kube.client import ApiError, NamespaceTerminating
from streamops.kube.manifests import Manifest

log = logging.getLogger("streamops.operator")

# What kopf's own Events say (kopf's posting settings, left at their defaults by the operator).
REPORTING_COMPONENT = "kopf"
REPORTING_INSTANCE = "dev"
EVENT_NAME_PREFIX = "kopf-event-"
MESSAGE_MAX = 1024  # kopf cuts a longer message in the middle; so does this
CUT = "..."


def cut_message(message: str) -> str:
    if len(message) <= MESSAGE_MAX:
        return message
    head = MESSAGE_MAX // 2 - len(CUT) // 2
    return message[:head] + CUT + message[-(MESSAGE_MAX - head - len(CUT)) :]


def annotated_event(
    involved: Mapping[str, Any], type_: str, reason: str, message: str, annotations: Mapping[str, str], now: datetime
) -> Manifest:
    """A core/v1 Event about `involved` (an object's apiVersion, kind and metadata), as kopf posts
    one, with `annotations`."""
    meta = involved.get("metadata") or {}
    namespace = meta.get("namespace") or "default"
    at = now.isoformat()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"namespace": namespace, "generateName": EVENT_NAME_PREFIX, "annotations": dict(annotations)},
        "involvedObject": {
            "apiVersion": involved.get("apiVersion"),
            "kind": involved.get("kind"),
            "name": meta.get("name"),
            "namespace": namespace,
            "uid": meta.get("uid"),
        },
        "action": "Action?",
        "type": type_,
        "reason": reason,
        "message": cut_message(message),
        "reportingComponent": REPORTING_COMPONENT,
        "reportingInstance": REPORTING_INSTANCE,
        "source": {"component": REPORTING_COMPONENT},
        "firstTimestamp": at,
        "lastTimestamp": at,
        "eventTime": at,
    }


async def post_event(
    state: OperatorState,
    body: kopf.Body,
    type_: str,
    reason: str,
    message: str,
    annotations: Mapping[str, str],
    now: datetime,
) -> None:
    """One Event about `body`: through kopf without annotations, else created here. Events are
    auxiliary: a failure is logged, never raised."""
    if not annotations:
        kopf.event(body, type=type_, reason=reason, message=message)
        return
    event = annotated_event(body, type_, reason, message, annotations, now)
    try:
        await state.write_status(state.api.create, event)
    except NamespaceTerminating:
        return  # the namespace is going: nobody reads its Events (kopf's own posts are dropped too)
    except (ApiError, OSError) as e:
        meta = body.get("metadata") or {}
        log.warning("Event %s of %s/%s not posted: %s", reason, meta.get("namespace"), meta.get("name"), e)
