#!/usr/bin/env python3
"""What a PlaybackPolicy's rules cost a request (docs/design/playback-rules.md): h2load (HTTP/1.1,
keep-alive) asks one edge worker for the same cached part of three streams, one without rules, one
with address, referrer and user-agent rules, one with country rules too (libmaxminddb through LuaJIT's
FFI, the address's country then in the worker's cache), interleaved rounds: the differences are the
rules'. Then the ingest's side in process: ViewerRules.refusal per request for the same rules (the
GeoIP database through PyPI maxminddb). Writes bench/results/edge-rules.md.

    python -m bench.edge_rules [--requests 20000] [--clients 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.server
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from devtools.media.edge import Edge
from devtools.media.geoip import country_database
from devtools.ports import free_port
from devtools.processes import proc_cpu_seconds
from streamops.api.playback_policy import PlaybackRules
from streamops.media.edge import RULES_SUFFIX, rules_file
from streamops.media.ingest.playback_rules import ViewerFacts
from streamops.media.ingest.viewer_rules import ViewerRules

from bench.edge_token import Origin, h2load, percentile

RESULTS = Path(__file__).parent / "results" / "edge-rules.md"
RULES = {
    "deniedCIDRs": ["192.0.2.0/24", "2001:db8::/32", "198.51.100.0/24"],
    "allowedReferrers": ["example.com", "*.partner.test"],
    "allowNoReferrer": True,
    "allowedUserAgents": ["*Chrome/*", "VLC/*", "h2load*"],
}
COUNTRY_RULES = {**RULES, "deniedCountries": ["US", "FR"]}
NETWORKS = {"127.0.0.0/8": "DE", "203.0.113.0/24": "US"}


def ingest_side(work: Path, geoip: Path, calls: int) -> list[tuple[str, float]]:
    """µs per ViewerRules.refusal (the ingest's check of one request), for each rule set."""
    rows = []
    facts = ViewerFacts(address="127.0.0.1", host="play.test", referer="https://a.partner.test/", user_agent="h2load")
    for name, rules in (("address, referrer, user agent", RULES), ("the same and countries", COUNTRY_RULES)):
        path = work / f"{len(rules)}.json"
        path.write_text(json.dumps(rules))
        checker = ViewerRules(str(path), str(geoip), logging.getLogger("bench"))
        assert checker.refusal(facts) is None
        began = time.perf_counter()
        for _ in range(calls):
            checker.refusal(facts)
        rows.append(
            (f"{name}: a viewer's next request (its verdict kept)", (time.perf_counter() - began) / calls * 1e6)
        )
        # New facts every request (another agent each): the whole decision, the country still cached.
        others = [replace(facts, user_agent=f"h2load/{i}") for i in range(calls)]
        began = time.perf_counter()
        for other in others:
            checker.refusal(other)
        rows.append((f"{name}: facts never seen", (time.perf_counter() - began) / calls * 1e6))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=20000, help="per run")
    parser.add_argument("--clients", type=int, default=4, help="concurrent keep-alive connections")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs of each kind")
    args = parser.parse_args()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Origin)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="edge-rules-") as tmp:
        work = Path(tmp)
        geoip = country_database(work / "countries.mmdb", NETWORKS)
        streams = {"plain": None, "ruled": RULES, "country": COUNTRY_RULES}
        edge = Edge(
            work / "edge",
            "bench",
            f"http://127.0.0.1:{server.server_port}",
            workers=1,
            routes={f"/streams/bench/{name}": name for name in streams},
            env={"STREAMOPS_EDGE_GEOIP_FILE": str(geoip)},
        )
        edge.set_routes({f"/streams/bench/{name}": name for name in streams}, public=set(streams))
        for name, rules in streams.items():
            if rules:
                (edge.routes_path.parent / f"{name}{RULES_SUFFIX}").write_text(
                    rules_file(PlaybackRules.model_validate(rules))
                )
        kinds = {
            "no rules": "plain",
            "address, referrer, user agent": "ruled",
            "the same and countries (cached lookup)": "country",
        }
        results: dict[str, list[float]] = {name: [] for name in kinds}
        cpu: dict[str, float] = dict.fromkeys(kinds, 0.0)
        with edge:
            assert edge.process is not None
            urls = {name: [f"{edge.http}/streams/bench/{stream}/hls/cmaf/part-1.m4s"] for name, stream in kinds.items()}
            for name in kinds:
                h2load(urls[name], 200, 1, work / "warm.log")
            for _ in range(args.rounds):
                for name in kinds:
                    began = proc_cpu_seconds(edge.process.pid)
                    results[name] += h2load(urls[name], args.requests, args.clients, work / "run.log")
                    cpu[name] += proc_cpu_seconds(edge.process.pid) - began
        ingest = ingest_side(work, geoip, 20000)
    server.shutdown()
    load_after = os.getloadavg()

    rows = []
    for name, values in results.items():
        cpu_us = cpu[name] / len(values) * 1e6
        rows.append((name, len(values), statistics.median(values), percentile(values, 99), cpu_us))
    base = rows[0]
    lines = [
        "# The playback rules' cost per request (bench/edge_rules.py)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} CPUs; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after. One nginx worker; h2load --h1 (its User-Agent "
        f"h2load/…, no Referer), {args.clients} keep-alive connections, {args.rounds} interleaved rounds of "
        f"{args.requests} requests per kind; the same cached 60 kB part of three public streams, so the "
        "differences are the rules'.",
        "",
        "| edge: request | requests | p50 ms | p99 ms | edge CPU µs/request | vs no rules |",
        "|---|---:|---:|---:|---:|---:|",
        *(f"| {n} | {c} | {p50:.3f} | {p99:.3f} | {us:.1f} | {us - base[4]:+.1f} µs |" for n, c, p50, p99, us in rows),
        "",
        "| ingest: ViewerRules.refusal, in process | µs per request |",
        "|---|---:|",
        *(f"| {name} | {us:.1f} |" for name, us in ingest),
        "",
    ]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
