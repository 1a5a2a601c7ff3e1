"""Types shared by the custom resources.

The pydantic models in `streamops.api` are the single source of truth: the CRD schemas are
generated from them (`streamops.api.crd`), the operator parses specs with them and the tests
build objects with them. Server-side rules that pydantic cannot express as JSON Schema are
attached as CEL (`x-kubernetes-validations`) next to the matching Python validator, both built
from one message (and one pattern); tests/unit/api/test_crd_cel_parity.py evaluates the two on one table
of examples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

# Defined in modules without models, for the workers (docs/design/lean-workers.md); named here as before.
from streamops.api.kube_model import KubeModel as KubeModel
from streamops.api.overlay_state import OverlayState as OverlayState
from streamops.api.uri_rules import NO_USERINFO as NO_USERINFO
from streamops.api.uri_rules import PUSH_TARGET_SCHEMES as PUSH_TARGET_SCHEMES
from streamops.api.uri_rules import RE2_SPACE as RE2_SPACE
from streamops.api.uri_rules import SRT_CALLER_ONLY as SRT_CALLER_ONLY
from streamops.api.uri_rules import USERINFO_PATTERN as USERINFO_PATTERN
from streamops.api.uri_rules import USERINFO_RE as USERINFO_RE
from streamops.api.uri_rules import check_uri as check_uri
from streamops.api.uri_rules import re2 as re2
from streamops.api.uri_rules import scheme_message as scheme_message
from streamops.api.uri_rules import srt_mode_is_caller as srt_mode_is_caller
from streamops.api.uri_rules import uri_pattern as uri_pattern

GROUP = "streaming.streamops.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# Named by the LiveStream's API and by the worker contract alike, so defined here, below both
# (contract/playback_token.py names it too): the namespace's Secret of playback signing keys
# (spec.playback.access signed).
KEYS_SECRET = "streamops-playback-keys"

# Bounded strings keep CEL cost estimates within the API server's budget.
NAME_MAX = 253
URL_MAX = 2048


def cel(rule: str, message: str, reason: str | None = None, field_path: str | None = None) -> dict[str, str]:
    """One `x-kubernetes-validations` entry."""
    entry = {"rule": rule, "message": message}
    if reason:
        entry["reason"] = reason
    if field_path:
        entry["fieldPath"] = field_path
    return entry


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    return {"x-kubernetes-validations": list(rules)}


class LocalObjectRef(KubeModel):
    """A reference to an object of the same namespace."""

    name: str = Field(min_length=1, max_length=NAME_MAX, description="Name of the object (same namespace).")


class SecretKeyRef(KubeModel):
    """A key inside a Secret of the same namespace."""

    name: str = Field(min_length=1, max_length=NAME_MAX, description="Name of the Secret (same namespace).")
    key: str = Field(
        default="streamKey", min_length=1, max_length=NAME_MAX, description="Key inside the Secret. Default streamKey."
    )


CA_OR_SKIP = "tls: set caSecretRef or insecureSkipVerify, not both"


class CaSecretKeyRef(KubeModel):
    """A key of a Secret of the same namespace holding PEM CA certificates."""

    name: str = Field(min_length=1, max_length=NAME_MAX, description="Name of the Secret (same namespace).")
    key: str = Field(
        default="ca.crt", min_length=1, max_length=NAME_MAX, description="Key inside the Secret. Default ca.crt."
    )


class PeerTls(KubeModel):
    """How the TLS certificate of a server the workers connect to (a Restream's target, a pull
    origin) is checked before anything is sent to it or taken from it."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("!has(self.caSecretRef) || !has(self.insecureSkipVerify) || !self.insecureSkipVerify", CA_OR_SKIP)
        )
    )

    ca_secret_ref: CaSecretKeyRef | None = Field(
        default=None,
        description="Secret key holding the PEM CA certificate(s) the server's certificate must chain to, instead "
        "of the system's trust store (for a server with a private or self-signed certificate). The certificate "
        "must also name the host of the URL (a DNS name, or an IP address SAN). Mounted into the worker as a file; "
        'the Secret must carry the label streaming.streamops.dev/allow-reference: "true" when the tenancy '
        "policy asks for it.",
    )
    insecure_skip_verify: bool = Field(
        default=False,
        description="Do not verify the server's certificate at all. INSECURE: what is sent (a Restream's stream "
        "key; a pull URL's path, often a secret stream name; an RTSP camera's credentials) goes to whoever answers "
        "at the server's address (anyone who can redirect it on the network), and a pull puts on air whatever "
        "media that one sends; use caSecretRef instead. Default false.",
    )

    @model_validator(mode="after")
    def _ca_or_skip(self) -> PeerTls:
        if self.ca_secret_ref is not None and self.insecure_skip_verify:
            raise ValueError(CA_OR_SKIP)
        return self


QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"


class ResourceAmounts(KubeModel):
    """Amounts of CPU and memory, as Kubernetes quantities."""

    cpu: str | None = Field(
        default=None,
        pattern=QUANTITY_PATTERN,
        max_length=32,
        description="CPU as a Kubernetes quantity, in cores or millicores, e.g. 500m or 2.",
    )
    memory: str | None = Field(
        default=None,
        pattern=QUANTITY_PATTERN,
        max_length=32,
        description="Memory as a Kubernetes quantity in bytes, e.g. 256Mi or 1Gi.",
    )


class Resources(KubeModel):
    """CPU/memory of the stream's ingest Pods (primary and backup), as Kubernetes quantities.
    When unset: the operator's defaults (the chart's worker.resources), unless changed there
    requests cpu 75m, memory 96Mi and a 512Mi memory limit for passthrough; requests cpu 1,
    memory 256Mi and a 1Gi memory limit with transcoding renditions."""

    requests: ResourceAmounts | None = Field(
        default=None, description="What the ingest container is guaranteed (the scheduler reserves it)."
    )
    limits: ResourceAmounts | None = Field(
        default=None, description="The most the ingest container may use (over the memory limit it is killed)."
    )


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(KubeModel):
    """One aspect of the object's current state (Kubernetes metav1.Condition)."""

    type: str = Field(max_length=316, description="What this condition is about, e.g. Ready; one condition per type.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="Why the condition is in its status, as one CamelCase word (e.g. StreamNotLive, Backoff).",
    )
    message: str = Field(default="", max_length=32768, description="Human-readable details.")
    last_transition_time: datetime = Field(
        description="When the status last changed (RFC 3339); a new reason or message alone does not change it."
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="The metadata.generation the condition was computed for."
    )


def conditions_field(description: str) -> Any:
    """The `conditions` list of a status: one entry per type (a list-map keyed by type)."""
    return Field(
        default_factory=list,
        max_length=32,
        description=description,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )


class ConditionedStatus(KubeModel):
    """Status fields every kind has."""

    model_config = ConfigDict(extra="ignore")

    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="The metadata.generation (spec version) the operator last acted on; when it is lower than "
        "metadata.generation, the rest of the status may not reflect the latest spec yet.",
    )
    conditions: list[Condition] = conditions_field(
        "Current state as Kubernetes conditions. Ready is always present; Reconciling and Stalled appear "
        "only while true."
    )

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)


# With PUSH_TARGET_SCHEMES (uri_rules.py): the schemes a user may hand to FFmpeg.
PULL_SOURCE_SCHEMES = ("rtmp", "rtmps", "srt", "http", "https", "rtsp", "rtsps")
# The pull URLs that take source.pull.credentialsSecretRef (an IP camera's user and password): the
# other origins never see them.
CREDENTIALED_PULL_SCHEMES = ("rtsp", "rtsps")
# The pull URLs over TLS, whose server's certificate source.pull.tls is about (rtsps: verified by our
# FFmpeg's rtsp patch, hack/ffmpeg/patches/rtsp-tls-pinning.patch).
TLS_PULL_SCHEMES = ("rtmps", "https", "rtsps")


def named_twice(names: Sequence[str]) -> list[str]:
    """The names that come more than once, each once, in the order their second coming is met."""
    repeated = [n for i, n in enumerate(names) if n in names[:i]]
    return list(dict.fromkeys(repeated))


def matches(pattern: str) -> str:
    """CEL: `self` matches the RE2 `pattern` (written into a CEL string literal)."""
    literal = pattern.replace("\\", "\\\\")
    return f"self.matches('{literal}')"


def scheme_rule(schemes: tuple[str, ...], what: str) -> dict[str, str]:
    return cel(matches(uri_pattern(schemes)), scheme_message(schemes, what))


SRT_CALLER_RULE = cel(
    "!self.startsWith('srt://') || self.split('?', 2).size() < 2 || "
    "self.split('?', 2)[1].split('&').all(p, !p.startsWith('mode=') || p == 'mode=caller')",
    SRT_CALLER_ONLY,
)
NO_USERINFO_RULE = cel(f"!{matches(USERINFO_PATTERN)}", NO_USERINFO)


# A path a user writes is joined to a root the operator chose: a claim's directory (subPath), a URL
# prefix an Ingress or HTTPRoute routes (path). A `..` segment climbs out of that root; without
# these rules such an object passed admission and failed later, when its Pod or route was created
# (Kubernetes refuses `..` in a volume's subPath and `.`/`..` segments in an Ingress path).
def dot_segments_message(what: str, segments: tuple[str, ...] = ("..",)) -> str:
    return f"{what} must not contain {' or '.join(repr(s) for s in segments)} segments"


def dot_segments_rule(what: str, segments: tuple[str, ...] = ("..",)) -> dict[str, str]:
    """CEL: `self` (a /-separated path) has no segment equal to one of `segments`."""
    test = " || ".join(f"s == '{s}'" for s in segments)
    return cel(f"!self.split('/').exists(s, {test})", dot_segments_message(what, segments))


def check_dot_segments(path: str, what: str, segments: tuple[str, ...] = ("..",)) -> str:
    """Python twin of dot_segments_rule."""
    if any(part in segments for part in path.split("/")):
        raise ValueError(dot_segments_message(what, segments))
    return path


CLIENT_ENTITY_DATA_MAX = 4096
INT64_MAX = 2**63 - 1
# The Event annotations that carry an object's client fields (its stream's, for a Recording or Clip).
CLIENT_USER_ID_ANNOTATION = f"{GROUP}/client-user-id"
CLIENT_ENTITY_DATA_ANNOTATION = f"{GROUP}/client-entity-data"


class ClientFields(KubeModel):
    """The user's own identifiers of an object, not used by the platform (the hosted API's client_user_id
    and client_entity_data): carried into recording sidecars, webhook payloads and Event annotations.
    A LiveStream's and a Restream's spec have them; the recorder's contract carries them as this model."""

    client_user_id: int | None = Field(
        default=None,
        ge=0,
        # No `maximum: 2^63-1` in the CRD: the API server read it as an overflowed int64 (-2^63) and
        # refused every value. The API server's JSON decoding refuses a number beyond int64 anyway.
        json_schema_extra={"format": "int64"},
        description="Your own identifier of the user this object belongs to (an integer, 0 or more); not used by the "
        "platform, carried into recording sidecars, webhook payloads (data.clientUserId) and the annotations of "
        "the operator's Events.",
    )
    client_entity_data: str | None = Field(
        default=None,
        max_length=CLIENT_ENTITY_DATA_MAX,
        description="Your own free text about this object (up to 4096 characters, e.g. JSON); not used by the "
        "platform, carried into recording sidecars, webhook payloads (data.clientEntityData) and the annotations "
        "of the operator's Events.",
    )

    @field_validator("client_user_id")
    @classmethod
    def _int64(cls, value: int | None) -> int | None:
        if value is not None and value > INT64_MAX:
            raise ValueError("clientUserId must fit in 64 bits (at most 9223372036854775807)")
        return value

    def client(self) -> ClientFields | None:
        """Just the two fields (None when neither is set): what the recorder's contract carries."""
        if self.client_user_id is None and self.client_entity_data is None:
            return None
        return ClientFields(client_user_id=self.client_user_id, client_entity_data=self.client_entity_data)


def client_fields(client: ClientFields | None) -> dict[str, int | str]:
    """The set client fields under their API names ({"clientUserId": …, "clientEntityData": …}, only
    those set): the keys a recording's (or clip's) JSON sidecar and a webhook event's data gain."""
    if client is None:
        return {}
    fields: dict[str, int | str] = {}
    if client.client_user_id is not None:
        fields["clientUserId"] = client.client_user_id
    if client.client_entity_data is not None:
        fields["clientEntityData"] = client.client_entity_data
    return fields


# The client fields' API names -> the Event annotations that carry them.
CLIENT_ANNOTATIONS = {"clientUserId": CLIENT_USER_ID_ANNOTATION, "clientEntityData": CLIENT_ENTITY_DATA_ANNOTATION}


def client_annotations(client: ClientFields | None) -> dict[str, str]:
    """The annotations an Event about an object with client fields carries (values as strings)."""
    return {CLIENT_ANNOTATIONS[key]: str(value) for key, value in client_fields(client).items()}


def spec_client(spec: Mapping[str, Any] | None) -> ClientFields | None:
    """The client fields of a spec as the API server stores it (camelCase): an object's own
    (LiveStream, Restream); None without them, or when the model refuses them (a spec the API
    server let through)."""
    spec = spec or {}
    try:
        return ClientFields.model_validate({key: spec[key] for key in CLIENT_ANNOTATIONS if key in spec}).client()
    except ValidationError:
        return None


def spec_client_annotations(spec: Mapping[str, Any] | None) -> dict[str, str]:
    """client_annotations() of a stored spec: an object's own (LiveStream, Restream), or its
    stream's (Recording, Clip); {} without."""
    return client_annotations(spec_client(spec))
