"""The reasons a playback policy's Ready condition gives."""

from streamops.control.shared.conditions import INVALID_SPEC as INVALID_SPEC

ACCEPTED = "Accepted"  # the operator read this generation; its servers can enforce every rule of it
GEOIP_DATABASE_MISSING = "GeoIPDatabaseMissing"  # it names countries, and there is no GeoIP database
