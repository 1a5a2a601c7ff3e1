"""hack/deps.sh (`make deps`, and `tools` first in `make demo` / `make test`) installs what the demo
and test paths call that we do not build (issue 54: it stopped without Go, and node/npm and
python3-venv were the release workflow's to install by hand). Every command of the table below is
in deps.sh's `--list` as the Debian package that ships it (checked with dpkg where it is installed
here) or is a command deps.sh checks itself; and every command the harness looks up or runs by
name, and every `command -v` of the Makefile and hack/, is in the table."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from devtools.versions import REPO

# Command -> the Debian package deps.sh installs it from.
PACKAGED = {
    "etcd": "etcd-server",
    "ffmpeg": "ffmpeg",
    "ffprobe": "ffmpeg",
    "nginx": "nginx-light",
    "srt-live-transmit": "srt-tools",
    "curl": "curl",
    "openssl": "openssl",
    "lua5.4": "lua5.4",
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "debootstrap": "debootstrap",
    "gcc": "gcc",
    "iptables": "iptables",
    "conntrack": "conntrack",
    "chromium": "chromium",
    "make": "make",
    "nasm": "nasm",
    "pkg-config": "pkg-config",
    "xz": "xz-utils",
    "janus": "janus",
    "turnserver": "coturn",
    "h2load": "nghttp2-client",
    "promtool": "prometheus",
    "nft": "nftables",
    "gst-inspect-1.0": "gstreamer1.0-tools",
    "ip": "iproute2",
    "ss": "iproute2",
    "pgrep": "procps",
    "sysctl": "procps",
    "uptime": "procps",
}
# Checked by deps.sh itself (a Node.js or Go installed otherwise is kept), else from these packages.
CHECKED = {"go": "golang-go", "node": "nodejs", "npm": "npm"}
# What has no command of its own: `python3 -m venv` needs ensurepip (hack/install-uv.sh); the edge's GeoIP
# library and MaxMind's writer for the tests' GeoIP databases (run by perl, which perl-base, essential, ships).
NO_COMMAND = {"python3-venv", "libmaxminddb0", "libmaxmind-db-writer-perl"}
# Debian's essential and required packages (coreutils, util-linux, mount, tar, gzip, sed, bash, git
# to have cloned the repository) and what we build (kubectl, helm, ...: hack/versions.sh).
BASE = {
    "bash", "sh", "cat", "sleep", "true", "df", "tar", "gzip", "sed", "sha256sum", "timeout", "chroot",
    "flock", "mount", "umount", "nsenter", "unshare", "git", "python3", "perl", "nice",
}  # fmt: skip
OURS = {"kubectl"}


def deps_list() -> tuple[set[str], set[str]]:
    out = subprocess.run(
        ["bash", str(REPO / "hack/deps.sh"), "--list"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    packages = {line.split()[1] for line in out.splitlines() if line.startswith("package ")}
    commands = {line.split()[1] for line in out.splitlines() if line.startswith("command ")}
    return packages, commands


def commands_called() -> set[str]:
    """Commands the harness runs or looks up by name, and those the Makefile and hack/ test for."""
    called: set[str] = set()
    for path in (REPO / "devtools/devtools").rglob("*.py"):
        code = path.read_text()
        called |= set(re.findall(r'shutil\.which\("([^"]+)"\)', code))
        called |= set(re.findall(r'(?:run|Popen|check_output|check_call)\(\s*\[\s*"([^"]+)"', code))
        called |= set(re.findall(r'argv = \[\s*"([^"]+)"', code))
    for path in [REPO / "Makefile", *(REPO / "hack").glob("*.sh")]:
        called |= set(re.findall(r"command -v ([A-Za-z0-9._-]+)", path.read_text()))
    return {os.path.basename(c) for c in called}


def test_deps_installs_every_command_of_the_table() -> None:
    packages, checked = deps_list()
    assert set(PACKAGED.values()) <= packages, set(PACKAGED.values()) - packages
    assert set(CHECKED) <= checked and set(CHECKED.values()) <= packages
    assert packages >= NO_COMMAND


def test_every_command_the_demo_and_test_paths_call_is_in_the_table() -> None:
    unknown = commands_called() - set(PACKAGED) - set(CHECKED) - BASE - OURS
    assert not unknown, f"add them to hack/deps.sh's packages and this table: {sorted(unknown)}"


def test_the_table_names_the_package_that_ships_each_command() -> None:
    """As installed here: the package owning the command's file (through alternatives and merged /usr),
    or one that the table's package depends on (nginx-light -> nginx, pkg-config -> pkgconf)."""
    candidates: dict[str, list[str]] = {}
    for command in PACKAGED:
        found = shutil.which(command)
        if found is None:
            continue
        paths = [found, os.path.realpath(found)]
        candidates[command] = paths + [p.removeprefix("/usr") for p in paths if p.startswith("/usr/")]
    owners: dict[str, str] = {}
    listing = subprocess.run(
        ["dpkg", "-S", *{p for ps in candidates.values() for p in ps}], capture_output=True, text=True, timeout=30
    ).stdout
    for line in listing.splitlines():
        package, _, path = line.partition(": ")
        owners.setdefault(path, package.split(",")[0].split(":")[0])
    wrong = {}
    for command, paths in candidates.items():
        owner = next((owners[p] for p in paths if p in owners), None)
        want = PACKAGED[command]
        if owner is None or owner == want:
            continue
        depends = subprocess.run(
            ["dpkg-query", "-W", "-f=${Depends}", want], capture_output=True, text=True, timeout=30
        ).stdout
        if owner not in re.findall(r"[a-z0-9][a-z0-9.+-]+", depends):
            wrong[command] = (want, owner)
    assert not wrong, f"command: (table's package, the package that ships it here): {wrong}"
