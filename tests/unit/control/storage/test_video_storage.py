"""Where a Recording's or a Clip's videos go (control/storage/video_storage.py), the pure parts: its
storage else the stream's default, the directory in the claim, the worker's upload target (names, no
keys), the CA volume and credential env, and whether the storage's Secrets may be used (the tenancy
label first, then that they hold their keys), naming Secrets, never a value."""

from __future__ import annotations

import base64
from typing import Any

from streamops.api.recording import RecordingStorage, S3Storage
from streamops.contract.recorder import ACCESS_KEY_ENV, CA_FILE, SECRET_KEY_ENV
from streamops.control.shared.conditions import REFUSED_BY_POLICY
from streamops.control.shared.settings import OperatorSettings, RecordingsSettings, TenancySettings
from streamops.control.shared.tenancy import ALLOW_REFERENCE_LABEL
from streamops.control.storage.video_storage import (
    CA_SECRET_MISSING,
    STORAGE_CREDENTIALS_MISSING,
    StorageSecrets,
    ca_volume,
    credential_env,
    storage_refusal,
    upload_target,
    videos_directory,
    with_credentials,
)
from streamops.kube.naming import SPEC_HASH_ANNOTATION

S3 = S3Storage.model_validate(
    {
        "endpoint": "https://s3.example.com",
        "bucket": "videos",
        "credentialsSecret": "s3-keys",
        "keyTemplate": "{namespace}/{stream}/{recording}-{uid}",
    }
)
WITH_CA = S3.model_copy(update={"ca_secret": "s3-ca"})
SETTINGS = OperatorSettings()


def secret(data: dict[str, str], labelled: bool = True) -> dict[str, Any]:
    labels = {ALLOW_REFERENCE_LABEL: "true"} if labelled else {}
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"metadata": {"name": "s", "labels": labels}, "data": encoded}


KEYS = secret({"accessKeyId": "AKIA-secret-id", "secretAccessKey": "very-secret"})
CA = secret({"ca.crt": "-----BEGIN CERTIFICATE-----"})


def test_videos_go_under_the_sub_path_else_the_namespace_one_directory_per_object():
    pvc = RecordingStorage.model_validate({"pvc": {"claimName": "videos", "subPath": "team/a"}})
    assert videos_directory("ns", "rec", "0123456789abcdef", pvc) == "team/a/rec-01234567"
    assert videos_directory("ns", "rec", "0123456789abcdef", RecordingStorage(s3=S3)) == "ns/rec-01234567"


def test_the_upload_target_names_the_bucket_and_key_prefix_and_never_a_key():
    target = upload_target(WITH_CA, "ns", "cam", "rec", "uid-1")
    assert (target.endpoint, target.bucket, target.stream, target.recording) == (
        "https://s3.example.com",
        "videos",
        "cam",
        "rec",
    )
    assert target.key_prefix.startswith("ns/cam/rec-") and target.ca_file == CA_FILE
    assert upload_target(S3, "ns", "cam", "rec", "uid-1").ca_file is None
    assert "s3-keys" not in target.model_dump_json()


def test_the_ca_is_a_file_and_the_keys_are_env_from_the_secret():
    assert ca_volume(S3) == ([], [])
    [volume], [mount] = ca_volume(WITH_CA)
    assert volume["secret"]["secretName"] == "s3-ca" and mount["readOnly"] and CA_FILE.startswith(mount["mountPath"])
    env = credential_env(S3)
    assert [e["name"] for e in env] == [ACCESS_KEY_ENV, SECRET_KEY_ENV]
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in env} == {"s3-keys"} and all("value" not in e for e in env)


def test_credentials_come_after_the_configuration_and_roll_the_pod():
    def pod() -> dict[str, Any]:
        container = {"name": "w", "env": [{"name": "CONFIG", "value": "{}"}]}
        return {"metadata": {"annotations": {SPEC_HASH_ANNOTATION: "old"}}, "spec": {"containers": [container]}}

    first = with_credentials(pod(), S3)
    assert first["spec"]["containers"][0]["env"][0]["name"] == "CONFIG"
    other = with_credentials(pod(), S3.model_copy(update={"credentials_secret": "other"}))
    hashes = {
        first["metadata"]["annotations"][SPEC_HASH_ANNOTATION],
        other["metadata"]["annotations"][SPEC_HASH_ANNOTATION],
    }
    assert len(hashes) == 2 and "old" not in hashes


def test_a_storage_is_refused_by_policy_first_then_for_a_missing_secret_or_key():
    assert storage_refusal(WITH_CA, StorageSecrets(KEYS, CA), SETTINGS) is None
    unlabelled = secret({"accessKeyId": "AKIA-secret-id", "secretAccessKey": "very-secret"}, labelled=False)
    refused = storage_refusal(WITH_CA, StorageSecrets(unlabelled, CA), SETTINGS)
    assert refused is not None and refused.by_policy and refused.reason == REFUSED_BY_POLICY
    assert "s3-keys" in refused.message and "very-secret" not in refused.message
    missing = storage_refusal(S3, StorageSecrets(None), SETTINGS)
    assert missing is not None and missing.reason == STORAGE_CREDENTIALS_MISSING and not missing.by_policy
    half = storage_refusal(S3, StorageSecrets(secret({"accessKeyId": "AKIA-secret-id"})), SETTINGS)
    assert half is not None and half.reason == STORAGE_CREDENTIALS_MISSING and "AKIA" not in half.message
    no_ca = storage_refusal(WITH_CA, StorageSecrets(KEYS, None), SETTINGS)
    assert no_ca is not None and no_ca.reason == CA_SECRET_MISSING


def test_the_admins_own_storage_is_not_checked_for_the_label():
    admins = OperatorSettings(recordings=RecordingsSettings(s3=S3))
    unlabelled = secret({"accessKeyId": "a", "secretAccessKey": "b"}, labelled=False)
    assert storage_refusal(S3, StorageSecrets(unlabelled), admins) is None
    elsewhere = S3.model_copy(update={"bucket": "other"})
    assert storage_refusal(elsewhere, StorageSecrets(unlabelled), admins) is not None
    relaxed = OperatorSettings(tenancy=TenancySettings(require_secret_label=False))
    assert storage_refusal(S3, StorageSecrets(unlabelled), relaxed) is None
