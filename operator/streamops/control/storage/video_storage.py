"""Where a kind that writes videos (a Recording's recorder, a Clip's clipper) puts them: its storage
resolved against its stream's default, the worker's upload target (names only: the keys reach it
by env from the Secret), the scratch or claim volume, and the check that the storage's Secrets
exist, and may be used (the tenancy policy's opt-in label), before a Pod needs them. What the kinds
share lives here, not in one kind's folder."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from streamops.api import LiveStream
from streamops.api.common import ClientFields
from streamops.api.recording import CA_KEY, CREDENTIAL_KEYS, RecordingStorage, S3Storage
from streamops.contract.recorder import ACCESS_KEY_ENV, CA_FILE, SECRET_KEY_ENV, UploadTarget, key_prefix
from streamops.control.shared.conditions import REFUSED_BY_POLICY
from streamops.control.shared.settings import OperatorSettings, RecordingsSettings
from streamops.control.shared.tenancy import secret_reference_refusal
from streamops.control.storage.recordings_claim import default_storage
from streamops.control.workers.ingest_address import IngestPortMap
from streamops.control.workers.worker_pod import secret_file_volume, spec_hash
from streamops.kube.manifests import Body, Manifest
from streamops.kube.naming import SPEC_HASH_ANNOTATION
from streamops.storage.credentials import CA_FIELD, CREDENTIALS_FIELD, ca_problem, credentials_problem

STORAGE_CREDENTIALS_MISSING = "StorageCredentialsMissing"  # the credentials Secret (or a key) is missing
CA_SECRET_MISSING = "CaSecretMissing"  # the CA Secret (or its ca.crt) is missing


@dataclass(frozen=True)
class StorageRefusal:
    """No worker Pod: a Secret the storage names is missing, or the tenancy policy refuses it
    (reason REFUSED_BY_POLICY: it lacks the opt-in label). A message naming the Secret and key,
    never a value."""

    reason: str
    message: str

    @property
    def by_policy(self) -> bool:
        """A running worker goes too: it must not go on using the Secret (a missing one it already has)."""
        return self.reason == REFUSED_BY_POLICY


@dataclass(frozen=True)
class StorageSecrets:
    """The storage's Secrets as read from the API (None: not there, or not named)."""

    credentials: Body | None
    ca: Body | None = None


def resolve_storage(
    own: RecordingStorage | None, stream: LiveStream, recordings: RecordingsSettings
) -> RecordingStorage:
    """The object's own storage (exactly one of pvc or s3), else its stream's default."""
    if own is not None and (own.pvc is not None or own.s3 is not None):
        return own
    return default_storage(stream, recordings)


def videos_directory(namespace: str, name: str, uid: str, storage: RecordingStorage) -> str:
    """Directory of an object's videos inside the claim (or the scratch space), relative to its
    root: `<subPath or namespace>/<name>-<uid prefix>`, unique per object."""
    pvc = storage.pvc
    sub = pvc.sub_path if pvc is not None and pvc.sub_path else namespace
    return f"{sub}/{name}-{uid[:8]}"


def upload_target(
    s3: S3Storage, namespace: str, stream: str, name: str, uid: str, client: ClientFields | None = None
) -> UploadTarget:
    """The worker's half of an S3Storage: names filled into the key template (`name`: the Recording's
    or the Clip's, also the {recording} placeholder), no credentials; `client`: the stream's client
    fields, for the sidecar."""
    return UploadTarget(
        endpoint=s3.endpoint,
        bucket=s3.bucket,
        key_prefix=key_prefix(s3.key_template, namespace, stream, name, uid),
        region=s3.region,
        path_style=s3.path_style,
        ca_file=CA_FILE if s3.ca_secret else None,
        stream=stream,  # names in the video's JSON sidecar
        recording=name,
        client=client,
    )


def ca_volume(s3: S3Storage) -> tuple[list[Manifest], list[Manifest]]:
    """The CA bundle Secret as a file at CA_FILE (volumes, mounts): none when the storage names none."""
    if not s3.ca_secret:
        return [], []
    volume = secret_file_volume("s3-ca", s3.ca_secret, CA_KEY, posixpath.basename(CA_FILE))
    return [volume], [{"name": "s3-ca", "mountPath": posixpath.dirname(CA_FILE), "readOnly": True}]


def credential_env(s3: S3Storage) -> list[Manifest]:
    """The keys reach the worker as env from the Secret (never in its configuration, status or the
    Pod spec's values)."""
    access_key_id, secret_access_key = CREDENTIAL_KEYS
    return [
        {"name": env, "valueFrom": {"secretKeyRef": {"name": s3.credentials_secret, "key": key}}}
        for env, key in ((ACCESS_KEY_ENV, access_key_id), (SECRET_KEY_ENV, secret_access_key))
    ]


def with_credentials(pod: Manifest, s3: S3Storage) -> Manifest:
    """`pod` with the credential env after its configuration (which stays the first env entry), and
    a spec hash that covers it: another credentials Secret rolls the worker."""
    spec = pod["spec"]
    spec["containers"][0]["env"] = [*spec["containers"][0]["env"], *credential_env(s3)]
    pod["metadata"]["annotations"][SPEC_HASH_ANNOTATION] = spec_hash(spec)
    return pod


def admins_storage(s3: S3Storage, recordings: RecordingsSettings) -> bool:
    """The chart's own object storage (`recordings_s3`, used when neither the object nor its stream
    names one): the admin's choice, never checked, as the operator's other defaults. A spec naming
    anything else (another endpoint, bucket or key template with the same Secret) is checked."""
    return recordings.s3 is not None and s3 == recordings.s3


def storage_refusal(s3: S3Storage, secrets: StorageSecrets, settings: OperatorSettings) -> StorageRefusal | None:
    """Whether a worker may store into `s3` (pure). First the tenancy policy (docs/design/tenancy.md):
    a Secret a spec names must carry the opt-in label, or the worker would send its keys to the
    spec's endpoint; then the credentials Secret (both keys) and CA Secret (ca.crt) must exist: a
    Pod without them would hang in CreateContainerConfigError. Names only, never a value."""
    if not admins_storage(s3, settings.recordings):
        refused = [
            secret_reference_refusal(CREDENTIALS_FIELD, s3.credentials_secret, secrets.credentials, settings.tenancy)
        ]
        if s3.ca_secret:
            refused.append(secret_reference_refusal(CA_FIELD, s3.ca_secret, secrets.ca, settings.tenancy))
        messages = [m for m in refused if m is not None]
        if messages:
            return StorageRefusal(REFUSED_BY_POLICY, "; ".join(messages))
    problem = credentials_problem(secrets.credentials, s3.credentials_secret)
    if problem is not None:
        return StorageRefusal(STORAGE_CREDENTIALS_MISSING, problem)
    if s3.ca_secret:
        problem = ca_problem(secrets.ca, s3.ca_secret)
        if problem is not None:
            return StorageRefusal(CA_SECRET_MISSING, problem)
    return None


@dataclass(frozen=True)
class FollowedStream:
    """What the owner of a recorder or a clipper reads of the stream it follows: the stream (with the
    renditions of the quality set it names inline: a transcoded recording keeps them, a clip is cut
    from one), where the videos go (its own storage, else the stream's default), whether a Secret of
    that bucket is missing or refused, and the stream's ingest ports (read with host networking only)."""

    stream: LiveStream
    storage: RecordingStorage
    storage_refused: StorageRefusal | None
    ingest_ports: IngestPortMap | None
