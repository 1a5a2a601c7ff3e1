"""Whether a source carries CEA-608/708 closed captions, seen in the bytes of its copied feed: the
multivariant playlist declares them from it (commands.master_playlist, docs/design/captions.md).

Captions travel as ATSC A/53 cc_data in the video's SEI (H.264, HEVC) or metadata OBUs (AV1), each
led by the same ITU-T T.35 header: country USA, provider ATSC, user identifier "GA94", type cc_data.
A caption service sends cc_data with every picture (padding between captions), so a session's first
chunks have it. FFmpeg's own flag cannot say it: its input dump shows "Closed Captions" only when
probing decoded a picture, which 7.1 no longer does for H.264 (measured: 5.1 says it for the same
FLV, 7.1 does not), and nothing reports captions that start later.
"""

from __future__ import annotations

# itu_t_t35_country_code 0xB5, itu_t_t35_provider_code 0x0031, user_identifier "GA94",
# user_data_type_code 0x03 (cc_data). No emulation prevention byte can fall inside it (no 00 00).
A53_CAPTIONS_HEADER = b"\xb5\x00\x31GA94\x03"


def carries_captions(media: bytes) -> bool:
    """True when `media` (a piece of the MPEG-TS feed) holds a caption header. A header split
    between two MPEG-TS packets or two reads is missed: the next picture brings another."""
    return A53_CAPTIONS_HEADER in media
