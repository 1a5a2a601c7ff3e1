"""A GeoIP country database in MaxMind's format, built for a test with MaxMind's own writer library
(MaxMind::DB::Writer, Debian's libmaxmind-db-writer-perl): the record shape of GeoLite2-Country
(`country.iso_code`), IPv6 with IPv4 aliased into it, as the real databases are. Built once per
content and cached (≈1 s of Perl's start-up otherwise); replaced as a mounted file is, by a rename."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from devtools.versions import cache_dir

WRITER = r"""
use strict; use warnings;
use MaxMind::DB::Writer::Tree;
my ($out, @pairs) = @ARGV;
my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version => 6, record_size => 24, database_type => 'streamops-test-Country',
    languages => ['en'], description => { en => 'streamops test countries' },
    map_key_type_callback => sub { { country => 'map', iso_code => 'utf8_string' }->{ $_[0] } },
    remove_reserved_networks => 0, alias_ipv6_to_ipv4 => 1,
);
while (@pairs) {
    my $net = shift @pairs; my $code = shift @pairs;
    $tree->insert_network($net, { country => { iso_code => $code } });
}
open my $fh, '>:raw', $out or die "$out: $!"; $tree->write_tree($fh); close $fh or die;
"""


def country_database(path: Path, networks: dict[str, str]) -> Path:
    """`path` holding a database that places each CIDR of `networks` in its ISO country code."""
    digest = hashlib.sha256(json.dumps(networks, sort_keys=True).encode() + WRITER.encode()).hexdigest()[:16]
    cached = cache_dir() / "geoip" / f"countries-{digest}.mmdb"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")  # two test workers may build it at once
        pairs = [item for cidr, code in networks.items() for item in (cidr, code)]
        subprocess.run(["perl", "-e", WRITER, str(tmp), *pairs], check=True, timeout=60)
        tmp.replace(cached)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    shutil.copyfile(cached, tmp)
    tmp.replace(path)
    return path
