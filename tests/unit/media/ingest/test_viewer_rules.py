"""The ingest's rules file and GeoIP database at work (media/ingest/viewer_rules.py): read at start,
read again when a file changes (at most once a second), failing closed when a configured file cannot
be used; countries from a real MaxMind-format database built for the test by MaxMind's writer."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from devtools.media.geoip import country_database
from streamops.media.ingest.playback_rules import ViewerFacts
from streamops.media.ingest.viewer_rules import ViewerRules

log = logging.getLogger("test.rules")
NETWORKS = {"198.51.100.0/24": "DE", "203.0.113.0/24": "US", "2001:db8::/32": "FR"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def write_rules(path: Path, rules: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(rules))
    tmp.replace(path)  # a new inode, as kubelet's symlink swap gives


def reason(rules: ViewerRules, address: str, **facts: Any) -> str | None:
    refused = rules.refusal(ViewerFacts(address=address, **facts))
    return refused.reason if refused else None


def test_rules_are_read_again_when_the_file_changes_and_fail_closed_when_unusable(tmp_path, caplog):
    clock, path = Clock(), tmp_path / "cam.json"
    with caplog.at_level(logging.INFO, logger=log.name):
        rules = ViewerRules(str(path), None, log, clock)
        assert reason(rules, "192.0.2.1") == "rules_unavailable", "a configured file that is missing refuses"
        assert "cannot be used" in caplog.text
        write_rules(path, {"deniedCIDRs": ["192.0.2.0/24"]})
        assert reason(rules, "192.0.2.1") == "rules_unavailable", "not looked at again within the second"
        clock.now += 1
        assert reason(rules, "192.0.2.1") == "address" and reason(rules, "192.0.2.200") == "address"
        assert reason(rules, "198.51.100.1") is None
        write_rules(path, {"allowedUserAgents": ["VLC/*"]})
        clock.now += 1
        assert reason(rules, "192.0.2.1", user_agent="VLC/3.0") is None
        path.write_text('{"deniedCIDRs": ["not a cidr"]}')
        clock.now += 1
        assert reason(rules, "192.0.2.1", user_agent="VLC/3.0") == "rules_unavailable"


def test_countries_come_from_the_geoip_database_and_need_one(tmp_path):
    clock, path = Clock(), tmp_path / "cam.json"
    write_rules(path, {"deniedCountries": ["US", "FR"]})
    without = ViewerRules(str(path), str(tmp_path / "none.mmdb"), log, clock)
    assert reason(without, "198.51.100.7") == "geoip_unavailable"
    database = country_database(tmp_path / "geo" / "countries.mmdb", NETWORKS)
    rules = ViewerRules(str(path), str(database), log, clock)
    assert reason(rules, "203.0.113.9") == "country"
    assert reason(rules, "2001:db8:1::1") == "country"
    assert reason(rules, "::ffff:203.0.113.9") == "country", "an IPv4 viewer on a dual-stack socket"
    assert reason(rules, "198.51.100.7") is None
    assert reason(rules, "192.0.2.1") is None, "not placed: a deny list lets it play"
    write_rules(path, {"allowedCountries": ["DE"]})
    clock.now += 1
    assert reason(rules, "198.51.100.7") is None
    assert reason(rules, "192.0.2.1") == "country", "not placed: an allow list refuses it"
    country_database(database, {"192.0.2.0/24": "DE"})  # the admin mounts a newer database
    clock.now += 1
    assert reason(rules, "192.0.2.1") is None and reason(rules, "198.51.100.7") == "country"
