"""The edge's entrypoint.sh renders nginx.conf from the environment (streamops/media/edge): the
resolver from resolv.conf's first nameserver (IPv6 bracketed, none: no resolver line), ports,
sizes, the user line; bad values are refused before nginx starts; the rendered config passes
`nginx -t` with the Lua module. And the routes file the operator writes."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from devtools.media.edge import NGINX, missing_packages
from streamops.api.playback_policy import PlaybackRules
from streamops.media import edge
from streamops.media.ingest.viewers import SESSIONS_PER_SOURCE

ENTRYPOINT = edge.FILES_DIR / edge.ENTRYPOINT


def render(tmp_path: Path, resolv: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text(resolv or "")
    environment = {
        "PATH": os.environ["PATH"],
        edge.ENV_NAMESPACE: "demo",
        edge.ENV_STATE_DIR: str(tmp_path / "state"),
        edge.ENV_RESOLV_CONF: str(resolv_conf),
        edge.ENV_ACCESS_LOG: "off",
        edge.ENV_NAME: "streamops-edge-7d9f-abcde",
        **env,
    }
    return subprocess.run(
        ["sh", str(ENTRYPOINT), "--render"], env=environment, capture_output=True, text=True, check=False
    )


def rendered(tmp_path: Path, resolv: str | None = None, **env: str) -> str:
    proc = render(tmp_path, resolv, **env)
    assert proc.returncode == 0, proc.stderr
    return (tmp_path / "state/nginx.conf").read_text()


@pytest.mark.parametrize(
    "resolv, line",
    [
        (
            "search demo.svc.cluster.local\nnameserver 10.96.0.10\nnameserver 10.96.0.11\n",
            "resolver 10.96.0.10 valid=10s;",
        ),
        ("nameserver fd00:10:96::a\n", "resolver [fd00:10:96::a] valid=10s;"),
        ("# nothing\n", "# no nameserver in"),
    ],
)
def test_the_resolver_is_the_first_nameserver(tmp_path: Path, resolv: str, line: str) -> None:
    assert line in rendered(tmp_path, resolv)


def test_the_defaults_are_the_pods(tmp_path: Path) -> None:
    conf = rendered(tmp_path)
    assert f"listen 0.0.0.0:{edge.HTTP_PORT} reuseport;" in conf
    assert f"listen 0.0.0.0:{edge.STATUS_PORT};" in conf
    assert 'files_max = "1g"' in conf and "lua_shared_dict edge_objects 64m;" in conf
    assert 'proxy_set_header X-Streamops-Edge "streamops-edge-7d9f-abcde";' in conf
    assert "worker_processes auto;" in conf and "\nuser " not in conf
    assert "error_log stderr crit;" in conf and "access_log off;" in conf
    assert f'lua_package_path "{edge.FILES_DIR}/?.lua;' in conf
    assert not re.search(r"@[A-Z_]+@", conf), "every placeholder rendered"
    videos = conf.split("location /_edge_videos/ {")[1].split("}")[0]
    assert f"alias {edge.RECORDINGS_DIR}/;" in videos and "internal;" in videos and "disable_symlinks on;" in videos


def test_settings_come_from_the_environment(tmp_path: Path) -> None:
    conf = rendered(
        tmp_path,
        **{
            edge.ENV_HTTP_PORT: "18080",
            edge.ENV_STATUS_PORT: "18081",
            edge.ENV_LISTEN_ADDRESS: "::1",
            edge.ENV_CACHE_SIZE: "300m",
            edge.ENV_MEMORY_CACHE_SIZE: "16m",
            edge.ENV_WORKERS: "2",
            "STREAMOPS_EDGE_USER": "root",
            edge.ENV_RECORDINGS_DIR: "/srv/claims/",
        },
    )
    assert "alias /srv/claims/;" in conf
    assert "listen [::1]:18080 reuseport;" in conf and "listen [::1]:18081;" in conf
    assert 'files_max = "300m"' in conf and "lua_shared_dict edge_objects 16m;" in conf
    assert "worker_processes 2;" in conf and "\nuser root;" in conf


@pytest.mark.parametrize(
    "name, value",
    [
        (edge.ENV_HTTP_PORT, "80; evil"),
        (edge.ENV_CACHE_SIZE, "1g|x"),
        (edge.ENV_WORKERS, "two"),
        (edge.ENV_NAME, 'edge"; include /etc/passwd'),
        (edge.ENV_ERROR_LOG_LEVEL, "verbose"),
        (edge.ENV_ACCESS_LOG, "relative.log"),
        (edge.ENV_TRUSTED_PROXIES, "10.0.0.0/8; include /etc/passwd"),
        (edge.ENV_TRUSTED_PROXIES, "unix:"),
        (edge.ENV_RECORDINGS_DIR, "claims"),
        (edge.ENV_RECORDINGS_DIR, "/srv/../etc"),
        (edge.ENV_RECORDINGS_DIR, "/srv/claims; autoindex on"),
    ],
)
def test_bad_values_are_refused_before_nginx(tmp_path: Path, name: str, value: str) -> None:
    proc = render(tmp_path, **{name: value})
    assert proc.returncode == 64 and name in proc.stderr, proc.stderr
    assert not (tmp_path / "state/nginx.conf").exists()


def test_forwarded_addresses_are_believed_from_trusted_proxies_only(tmp_path: Path) -> None:
    """nginx's realip: the rightmost X-Forwarded-For entry that is not a trusted proxy, from one."""
    assert "set_real_ip_from" not in rendered(tmp_path) and "real_ip_header" not in rendered(tmp_path)
    conf = rendered(tmp_path, **{edge.ENV_TRUSTED_PROXIES: "10.42.0.0/16 fd00::/8"})
    assert "set_real_ip_from 10.42.0.0/16; set_real_ip_from fd00::/8; " in conf
    assert "real_ip_header X-Forwarded-For; real_ip_recursive on;" in conf
    # Their X-Forwarded-Proto only is passed on (edge.lua), a client's never (issue 52, finding 10).
    assert "10.42.0.0/16 1; fd00::/8 1;" in conf and "proxy_set_header X-Forwarded-Proto $edge_forwarded_proto;" in conf


def test_the_edge_counts_as_many_sessions_per_address_as_the_ingest() -> None:
    lua = (edge.FILES_DIR / "edge_stats.lua").read_text()
    assert f"local SESSIONS_PER_SOURCE = {SESSIONS_PER_SOURCE}\n" in lua


def test_a_namespace_is_required(tmp_path: Path) -> None:
    proc = render(tmp_path, **{edge.ENV_NAMESPACE: ""})
    assert proc.returncode != 0 and edge.ENV_NAMESPACE in proc.stderr


@pytest.mark.skipif(bool(missing_packages()), reason=f"needs {' '.join(missing_packages())}")
def test_nginx_accepts_the_rendered_config(tmp_path: Path) -> None:
    rendered(
        tmp_path,
        "nameserver 10.96.0.10\n",
        **{"STREAMOPS_EDGE_USER": "root" if os.geteuid() == 0 else "", edge.ENV_TRUSTED_PROXIES: "10.42.0.0/16"},
    )
    state = tmp_path / "state"
    proc = subprocess.run(
        [NGINX, "-t", "-p", str(state), "-c", str(state / "nginx.conf"), "-e", "stderr"],
        env={"PATH": os.environ["PATH"], edge.ENV_NAMESPACE: "demo"},  # init_by_lua runs, and needs it
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_the_routes_file_lists_custom_prefixes() -> None:
    text = edge.routes_file({"/live/main": "cam", "/events/keynote": "keynote"})
    assert text == "/events/keynote keynote\n/live/main cam\n"
    public = edge.routes_file({"/streams/demo/lobby": "lobby", "/live/main": "cam"}, public={"lobby"})
    assert public == "/live/main cam\n/streams/demo/lobby lobby public\n"
    assert edge.default_path_prefix("demo", "cam") == "/streams/demo/cam"


def test_the_rules_file_is_one_rule_a_line_in_the_ingest_s_order() -> None:
    rules = PlaybackRules.model_validate(
        {
            "allowedCIDRs": ["10.0.0.0/8"],
            "deniedCIDRs": ["2001:db8::/32"],
            "deniedCountries": ["US"],
            "allowedReferrers": ["example.com", "*.partner.test"],
            "allowNoReferrer": False,
            "allowedUserAgents": ["Mozilla/5.0 (X11*"],
        }
    )
    assert edge.rules_file(rules) == (
        "deny-cidr 2001:db8::/32\nallow-cidr 10.0.0.0/8\ndeny-country US\nallow-referrer example.com\n"
        "allow-referrer *.partner.test\nno-referrer deny\nallow-user-agent Mozilla/5.0 (X11*\n"
    )
    assert edge.rules_file(PlaybackRules()) == ""
