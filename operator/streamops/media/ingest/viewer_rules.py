"""The ingest's playback rules at work (docs/design/playback-rules.md): the stream's rules file (a
mounted ConfigMap's, JSON PlaybackRules) and the admin's GeoIP database, each looked at again (a
`stat`) at most once a second and read again when it changed (kubelet swaps a mounted ConfigMap's
files by a symlink, so a policy edit reaches a live worker without a restart), and the decision
for one request (playback_rules.decide). Fails closed: a configured rules file that cannot be read,
or rules naming countries without a database, refuse every request (503) and say why in the log
once per change.
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from streamops.api.playback_policy import PlaybackRules
from streamops.media.ingest.playback_rules import (
    GEOIP_UNAVAILABLE,
    RULES_UNAVAILABLE,
    CompiledRules,
    RuleRefusal,
    ViewerFacts,
    decide,
)

CHECK_SECONDS = 1.0  # a file is stat'ed again at most this often
COUNTRIES_CACHED = 20_000  # addresses whose country is kept (least recently asked dropped first)
VERDICTS_CACHED = 20_000  # requests' facts whose verdict is kept, likewise


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class WatchedFile:
    """A file read again (by `load`) when its inode, mtime or size changed, checked at most every
    CHECK_SECONDS; `value` is what the last load made of it (None: missing or unusable)."""

    def __init__(self, path: str, load: Callable[[Path], Any], clock: Callable[[], float]) -> None:
        self.path, self.load, self.clock = Path(path), load, clock
        self._seen: tuple[int, int, int] | bool | None = False  # False: never looked
        self._checked_at = float("-inf")
        self.value: Any = None

    def current(self) -> Any:
        now = self.clock()
        if now - self._checked_at >= CHECK_SECONDS:
            self._checked_at = now
            seen = _identity(self.path)
            if seen != self._seen:
                self._seen = seen
                self.value = self.load(self.path)  # the loader says why a missing file is unusable
        return self.value


class CountryDatabase:
    """Country lookups in a MaxMind-format database (GeoIP2/GeoLite2 Country or City, or any with
    `country.iso_code`), answers cached per address, the cache emptied when the file changes."""

    def __init__(self, path: str, log: logging.Logger, clock: Callable[[], float]) -> None:
        self.log = log
        self.file = WatchedFile(path, self._open, clock)
        self._reader: Any = None
        self._cache: OrderedDict[str, str | None] = OrderedDict()

    def _open(self, path: Path) -> Any:
        # Imported here: only an ingest whose rules name countries has a database (lean-workers.md).
        import maxminddb

        self._cache.clear()
        try:
            reader = maxminddb.open_database(str(path))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as e:
            self.log.error("GeoIP database %s cannot be read (%s): rules naming countries refuse every viewer", path, e)
            return None
        self.log.info("GeoIP database %s loaded (%s)", path, reader.metadata().database_type)
        return reader

    def available(self) -> bool:
        return self.file.current() is not None

    def country(self, address: str) -> str | None:
        reader = self.file.current()
        if reader is None:
            return None
        if address in self._cache:
            self._cache.move_to_end(address)
            return self._cache[address]
        try:
            record = reader.get(address)
        except ValueError:  # not an address
            record = None
        found = record.get("country") if isinstance(record, dict) else None
        code = found.get("iso_code") if isinstance(found, dict) else None
        country = code if isinstance(code, str) else None
        self._cache[address] = country
        if len(self._cache) > COUNTRIES_CACHED:
            self._cache.popitem(last=False)
        return country


class ViewerRules:
    """The stream's rules file and the GeoIP database; `refusal(facts)` for one request."""

    def __init__(
        self, rules_file: str, geoip_file: str | None, log: logging.Logger, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.log = log
        self.rules = WatchedFile(rules_file, self._load_rules, clock)
        self.countries = CountryDatabase(geoip_file, log, clock) if geoip_file else None
        self._verdicts: OrderedDict[ViewerFacts, RuleRefusal | None] = OrderedDict()
        self._verdicts_for: tuple[object, object] | None = None
        self.rules.current()  # at start: a missing file is logged before the first viewer comes

    def _load_rules(self, path: Path) -> CompiledRules | None:
        try:
            rules = PlaybackRules.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as e:
            self.log.error("playback rules %s cannot be used (%s): every playback request is refused", path, e)
            return None
        self.log.info("playback rules loaded from %s", path)
        return CompiledRules.of(rules)

    def refusal(self, facts: ViewerFacts) -> RuleRefusal | None:
        rules: CompiledRules | None = self.rules.current()
        if rules is None:
            return RuleRefusal(RULES_UNAVAILABLE)
        database = None
        if rules.needs_country:
            if self.countries is None or not self.countries.available():
                return RuleRefusal(GEOIP_UNAVAILABLE)
            database = self.countries.file.value
        # A viewer's requests repeat the same facts (address, page, player): their verdict is kept
        # until the rules or the database change (≈35 µs of parsing and matching saved per request).
        if self._verdicts_for is None or self._verdicts_for[0] is not rules or self._verdicts_for[1] is not database:
            self._verdicts.clear()
            self._verdicts_for = (rules, database)
        if facts in self._verdicts:
            self._verdicts.move_to_end(facts)
            return self._verdicts[facts]
        placed = facts
        if database is not None and self.countries is not None:
            placed = replace(facts, country=self.countries.country(facts.address))
        verdict = decide(rules, placed)
        self._verdicts[facts] = verdict
        if len(self._verdicts) > VERDICTS_CACHED:
            self._verdicts.popitem(last=False)
        return verdict
