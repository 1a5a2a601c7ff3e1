"""PlaybackPolicy: who may watch beyond "has a signed URL" — referrers and origins, address ranges,
countries, user agents — a namespaced kind that LiveStreams name (`spec.playback.policyRef`), as
streams name a QualitySet (docs/design/playback-rules.md says why a kind and not inline rules).
`PlaybackRules` is also what the ingest and the edge enforce: the worker contract carries this
model, one definition, one set of bounds."""

from __future__ import annotations

import ipaddress
import re

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.config import JsonDict

from streamops.api.common import Condition, ConditionedStatus, KubeModel, cel, conditions_field, validations

RULES_MAX = 64  # entries of one list: a policy is read on every playback request
PATTERN_MAX = 256
# A host name pattern: a lower-case DNS name, or `*.` and one (any subdomain of it, not itself).
REFERRER_PATTERN = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
CIDR_MAX = 43  # an IPv6 address in full and /128
# ISO 3166-1 alpha-2, the codes assigned (MaxMind's databases use them, as `country.iso_code`).
_ISO_3166_ALPHA_2 = (
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ "
    "CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR "
    "GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO "
    "JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR "
    "MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO "
    "RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV "
    "TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"
)
COUNTRY_CODES = tuple(_ISO_3166_ALPHA_2.split())
NO_REFERRER_EXPLICIT = "allowedReferrers needs allowNoReferrer: say whether requests without Referer and Origin play"
BOTH_COUNTRY_LISTS = "set at most one of allowedCountries and deniedCountries"

_CIDR_ITEMS: JsonDict = {"items": {"type": "string", "maxLength": CIDR_MAX, "format": "cidr"}}
_COUNTRY_ITEMS: JsonDict = {"items": {"type": "string", "enum": list(COUNTRY_CODES)}}


class PlaybackRules(KubeModel):
    """The rules a viewer's request must pass, in this order (the first it fails is the refusal's reason):
    deniedCIDRs, allowedCIDRs (address), deniedCountries / allowedCountries (country), allowedReferrers
    (referrer), allowedUserAgents (user_agent). An empty or unset list is no rule. The viewer's address is
    the playback gate's (X-Forwarded-For believed from the operator's playback.trustedProxyCIDRs only)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.allowedReferrers) || size(self.allowedReferrers) == 0 || has(self.allowNoReferrer)",
                NO_REFERRER_EXPLICIT,
            ),
            cel(
                "!has(self.allowedCountries) || size(self.allowedCountries) == 0 || !has(self.deniedCountries) || "
                "size(self.deniedCountries) == 0",
                BOTH_COUNTRY_LISTS,
            ),
        )
    )

    allowed_referrers: list[str] | None = Field(
        default=None,
        max_length=RULES_MAX,
        description="Host names of the pages that may play the stream: example.com, or *.example.com for any "
        "subdomain of it (not example.com itself). Matched against the host of the request's Origin, else its "
        "Referer (the port is ignored). The stream's own playback host always passes (the player page's own "
        "requests name it). Browsers send these headers; other players may send anything, so this keeps other "
        "sites from embedding the stream, it is not access control: use signed playback for that.",
        json_schema_extra={"items": {"type": "string", "maxLength": PATTERN_MAX, "pattern": REFERRER_PATTERN}},
    )
    allow_no_referrer: bool | None = Field(
        default=None,
        description="With allowedReferrers (required there): whether a request with neither Origin nor Referer "
        "(a native player, a page with Referrer-Policy no-referrer, a link opened directly) plays.",
    )
    allowed_cidrs: list[str] | None = Field(
        default=None,
        alias="allowedCIDRs",
        max_length=RULES_MAX,
        description="Only viewers whose address is in one of these ranges play (IPv4 or IPv6, e.g. 203.0.113.0/24, "
        "2001:db8::/32; one address is its /32 or /128).",
        json_schema_extra=_CIDR_ITEMS,
    )
    denied_cidrs: list[str] | None = Field(
        default=None,
        alias="deniedCIDRs",
        max_length=RULES_MAX,
        description="Viewers whose address is in one of these ranges never play (checked before allowedCIDRs).",
        json_schema_extra=_CIDR_ITEMS,
    )
    allowed_countries: list[str] | None = Field(
        default=None,
        max_length=300,
        description="Only viewers whose address a GeoIP database places in one of these countries (ISO 3166-1 "
        "alpha-2, upper case) play; an address the database does not place is refused. Needs the database the "
        "admin mounts (chart value playback.geoip): without it the policy is not Ready and every request of its "
        "streams is refused (503).",
        json_schema_extra=_COUNTRY_ITEMS,
    )
    denied_countries: list[str] | None = Field(
        default=None,
        max_length=300,
        description="Viewers placed in one of these countries never play (exclusive with allowedCountries); an "
        "address the database does not place plays.",
        json_schema_extra=_COUNTRY_ITEMS,
    )
    allowed_user_agents: list[str] | None = Field(
        default=None,
        max_length=RULES_MAX,
        description="Only requests whose User-Agent matches one of these patterns play: * matches any run of "
        "characters, the rest literally, case-insensitive, the whole header (e.g. *Chrome/*, VLC/*). A missing "
        "User-Agent is the empty string.",
        json_schema_extra={"items": {"type": "string", "maxLength": PATTERN_MAX}},
    )

    @field_validator("allowed_cidrs", "denied_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str] | None) -> list[str] | None:
        for cidr in value or []:
            # The CRD's format cidr (Go's net.ParseCIDR) needs the prefix length; host bits may be set.
            if "/" not in cidr:
                raise ValueError(f"{cidr!r}: a CIDR needs its prefix length (/32 or /128 for one address)")
            ipaddress.ip_network(cidr, strict=False)  # ValueError names the bad one
        return value

    @field_validator("allowed_countries", "denied_countries")
    @classmethod
    def _countries(cls, value: list[str] | None) -> list[str] | None:
        for code in value or []:
            if code not in COUNTRY_CODES:
                raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code (upper case, e.g. DE)")
        return value

    @field_validator("allowed_referrers")
    @classmethod
    def _hosts(cls, value: list[str] | None) -> list[str] | None:
        for host in value or []:
            if len(host) > PATTERN_MAX or not re.fullmatch(REFERRER_PATTERN, host):
                raise ValueError(f"{host!r} is not a lower-case host name or *.<host name>")
        return value

    @field_validator("allowed_user_agents")
    @classmethod
    def _agents(cls, value: list[str] | None) -> list[str] | None:
        for pattern in value or []:
            if len(pattern) > PATTERN_MAX or not pattern.isprintable():
                raise ValueError(f"user agent pattern {pattern[:40]!r}: printable, at most {PATTERN_MAX} characters")
        return value

    @model_validator(mode="after")
    def _explicit(self) -> PlaybackRules:
        if self.allowed_referrers and self.allow_no_referrer is None:
            raise ValueError(NO_REFERRER_EXPLICIT)
        if self.allowed_countries and self.denied_countries:
            raise ValueError(BOTH_COUNTRY_LISTS)
        return self

    @property
    def needs_geoip(self) -> bool:
        return bool(self.allowed_countries or self.denied_countries)

    @property
    def empty(self) -> bool:
        return not (
            self.allowed_referrers
            or self.allowed_cidrs
            or self.denied_cidrs
            or self.needs_geoip
            or self.allowed_user_agents
        )


class PlaybackPolicySpec(PlaybackRules):
    """The rules every LiveStream that names the policy (spec.playback.policyRef) is played under, at the
    edge and at the ingest alike; a change reaches live streams without a restart."""

    description: str = Field(
        default="", max_length=1024, description="Free text for people choosing a policy (not used by the operator)."
    )


class PlaybackPolicyStatus(ConditionedStatus):
    """Observed state of the policy, written by the operator."""

    conditions: list[Condition] = conditions_field(
        "Ready: True once the operator has read this generation and its streams' servers can enforce it; False "
        "with GeoIPDatabaseMissing when it names countries and the operator's chart has no GeoIP database "
        "(playback.geoip), so its streams refuse every viewer (503) until one is mounted."
    )
    streams: int | None = Field(
        default=None, ge=0, description="How many LiveStreams of the namespace name the policy."
    )
