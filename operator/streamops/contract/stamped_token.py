"""A request signed with a stream's key: `<unix time>.<HMAC-SHA256>` over what it is for (a
purpose string), its fields and the time, good for MAX_AGE_SECONDS either side of the receiver's
clock. The backup's uplink to its primary (media/ingest/backup_link.py) and the operator's overlay
switch (contract/overlay.py) carry one: whoever holds the key may send them."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from streamops.contract.decimal_text import decimal

MAX_AGE_SECONDS = 60  # clocks of two nodes agree to well within this (NTP); a captured token lives no longer


def _mac(key: bytes, purpose: str, fields: Sequence[str], stamp: int) -> str:
    message = "\n".join((purpose, *fields, str(stamp))).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def stamped_token(key: bytes, purpose: str, fields: Sequence[str], now: float) -> str:
    stamp = int(now)
    return f"{stamp}.{_mac(key, purpose, fields, stamp)}"


def stamped_token_valid(key: bytes, purpose: str, fields: Sequence[str], token: str, now: float) -> bool:
    stamp_text, _, mac = token.partition(".")
    stamp = decimal(stamp_text)
    if stamp is None or abs(now - stamp) > MAX_AGE_SECONDS:
        return False
    return hmac.compare_digest(mac, _mac(key, purpose, fields, stamp))
