#!/bin/sh
# The edge container's entrypoint: renders nginx.conf.template (next to this script) from the
# environment into $STREAMOPS_EDGE_STATE_DIR/nginx.conf, then runs nginx in the foreground.
# `entrypoint.sh --render` only renders (the tests, and the host harness before it starts nginx).
# Variables (defaults in brackets; the operator's side: streamops/media/edge/__init__.py):
#   STREAMOPS_EDGE_NAMESPACE (required)  the namespace whose streams this edge serves
#   STREAMOPS_EDGE_ORIGIN       [http://{name}-ingest.{namespace}.svc.{domain}:8080]
#   STREAMOPS_EDGE_CLUSTER_DOMAIN        [cluster.local]
#   STREAMOPS_EDGE_KEYS_DIR              [/etc/streamops-edge/keys]  files current, previous
#   STREAMOPS_EDGE_ROUTES_FILE           [/etc/streamops-edge/routes/routes]  "<prefix> <name>" lines: the only streams served
#   STREAMOPS_EDGE_VIEWER_WINDOW_SECONDS [30]
#   STREAMOPS_EDGE_GEOIP_FILE            [unset]  a MaxMind-format database for playback rules naming countries;
#                                        a stream's rules are <name>.rules beside the routes file (edge_rules.lua)
#   STREAMOPS_EDGE_RECORDINGS_DIR        [/var/lib/streamops-edge/recordings]  a recordings claim mounted
#                                        read-only at <dir>/<claim> per claim served (/videos/, signed only)
#   STREAMOPS_EDGE_STATE_DIR             [/var/cache/streamops-edge]  config, temp files, the cache
#   STREAMOPS_EDGE_CACHE_SIZE            [1g]   segment files on disk, at most (past it, in memory)
#   STREAMOPS_EDGE_MEMORY_CACHE_SIZE     [64m]  playlists, parts, init segments, in shared memory
#   STREAMOPS_EDGE_WORKERS               [auto] nginx worker processes (auto counts the node's CPUs)
#   STREAMOPS_EDGE_HTTP_PORT [8080], STREAMOPS_EDGE_STATUS_PORT [8081], STREAMOPS_EDGE_LISTEN_ADDRESS [0.0.0.0]
#   STREAMOPS_EDGE_NAME                  [$HOSTNAME] sent to the ingest as X-Streamops-Edge
#   STREAMOPS_EDGE_TRUSTED_PROXIES       [none] space-separated CIDRs whose X-Forwarded-For names the
#                                        viewer (set_real_ip_from, rightmost untrusted entry)
#   STREAMOPS_EDGE_ACCESS_LOG            [off] a file (e.g. on the state emptyDir), written at least once a
#                                        second (buffered). Not /dev/stdout: nginx
#                                        opens the path again, and a non-root worker may not reopen
#                                        the container's stdout pipe (EACCES, measured with a root-owned pipe)
#   STREAMOPS_EDGE_ERROR_LOG_LEVEL       [crit]
#   STREAMOPS_EDGE_RESOLV_CONF           [/etc/resolv.conf] its first nameserver resolves the origins
#   STREAMOPS_EDGE_NGINX [nginx], STREAMOPS_EDGE_MODULES_DIR [/usr/lib/nginx/modules]
#   STREAMOPS_EDGE_USER                  [unset] nginx's `user` when started as root (the host
#                                        harness: root, so that workers read its private dirs)
set -eu

edge_dir=$(cd "$(dirname "$0")" && pwd)
: "${STREAMOPS_EDGE_NAMESPACE:?STREAMOPS_EDGE_NAMESPACE: the namespace this edge serves}"
state_dir=${STREAMOPS_EDGE_STATE_DIR:-/var/cache/streamops-edge}
resolv_conf=${STREAMOPS_EDGE_RESOLV_CONF:-/etc/resolv.conf}
access_log=${STREAMOPS_EDGE_ACCESS_LOG:-off}
recordings_dir=${STREAMOPS_EDGE_RECORDINGS_DIR:-/var/lib/streamops-edge/recordings}
edge_name=${STREAMOPS_EDGE_NAME:-${HOSTNAME:-$(cat /etc/hostname 2>/dev/null || echo edge)}}

fail() {
    echo "streamops-edge: $*" >&2
    exit 64
}

number() { # $1 name, $2 value: digits only
    case $2 in '' | *[!0-9]*) fail "$1 must be a number, not '$2'" ;; esac
    printf '%s' "$2"
}

size() { # $1 name, $2 value: nginx size (digits, optional k/m/g)
    case $2 in '' | *[!0-9kmgKMG]* | [!0-9]*) fail "$1 must be a size like 64m, not '$2'" ;; esac
    printf '%s' "$2"
}

http_port=$(number STREAMOPS_EDGE_HTTP_PORT "${STREAMOPS_EDGE_HTTP_PORT:-8080}")
status_port=$(number STREAMOPS_EDGE_STATUS_PORT "${STREAMOPS_EDGE_STATUS_PORT:-8081}")
workers=${STREAMOPS_EDGE_WORKERS:-auto}
[ "$workers" = auto ] || workers=$(number STREAMOPS_EDGE_WORKERS "$workers")
cache_max_size=$(size STREAMOPS_EDGE_CACHE_SIZE "${STREAMOPS_EDGE_CACHE_SIZE:-1g}")
memory_cache_size=$(size STREAMOPS_EDGE_MEMORY_CACHE_SIZE "${STREAMOPS_EDGE_MEMORY_CACHE_SIZE:-64m}")
listen_address=${STREAMOPS_EDGE_LISTEN_ADDRESS:-0.0.0.0}
case $listen_address in *:*) listen_address="[$listen_address]" ;; esac
case $edge_name in *[!A-Za-z0-9._-]*) fail "STREAMOPS_EDGE_NAME must be a host name, not '$edge_name'" ;; esac
error_log_level=${STREAMOPS_EDGE_ERROR_LOG_LEVEL:-crit}
# nginx's realip: $remote_addr becomes the rightmost X-Forwarded-For entry that is not a trusted
# proxy, when the peer is one; without trusted proxies X-Forwarded-For is never believed.
real_ip=""
trusted_geo=""
for cidr in ${STREAMOPS_EDGE_TRUSTED_PROXIES:-}; do
    case $cidr in '' | *[!0-9A-Fa-f:./]* | */*/* | [!0-9A-Fa-f:]*) fail "STREAMOPS_EDGE_TRUSTED_PROXIES: not a CIDR: '$cidr'" ;; esac
    real_ip="${real_ip}set_real_ip_from $cidr; "
    trusted_geo="${trusted_geo}$cidr 1; "
done
[ -n "$trusted_geo" ] || trusted_geo="# no trusted proxies"
[ -z "$real_ip" ] || real_ip="${real_ip}real_ip_header X-Forwarded-For; real_ip_recursive on;"
case $recordings_dir in
    /*) case $recordings_dir in *[!A-Za-z0-9._/-]* | */../* | */.. | *//*) fail "STREAMOPS_EDGE_RECORDINGS_DIR must be a plain absolute path, not '$recordings_dir'" ;; esac ;;
    *) fail "STREAMOPS_EDGE_RECORDINGS_DIR must be an absolute path" ;;
esac
recordings_dir=${recordings_dir%/}
case $error_log_level in debug | info | notice | warn | error | crit | alert | emerg) ;;
    *) fail "STREAMOPS_EDGE_ERROR_LOG_LEVEL must be an nginx log level, not '$error_log_level'" ;;
esac
case $access_log in
    off) ;;
    # Buffered: a write(2) a second, not one per request (measured below in bench/edge_cpu.py).
    /*) access_log="$access_log edge buffer=64k flush=1s" ;;
    *) fail "STREAMOPS_EDGE_ACCESS_LOG must be an absolute path or off" ;;
esac

# nginx resolves the origins' names itself (proxy_pass with variables), with the Pod's resolver.
# No search domains: the origin template names the Service fully.
nameserver=$(sed -n 's/^[[:space:]]*nameserver[[:space:]]\{1,\}\([^[:space:]]\{1,\}\).*/\1/p' "$resolv_conf" 2>/dev/null | head -n 1)
case $nameserver in
    '') resolver="# no nameserver in $resolv_conf: origins must be addresses" ;;
    *:*) resolver="resolver [$nameserver] valid=10s;" ;;
    *) resolver="resolver $nameserver valid=10s;" ;;
esac

user_line="# user: nginx runs as the container's user"
if [ -n "${STREAMOPS_EDGE_USER:-}" ]; then
    case $STREAMOPS_EDGE_USER in *[!A-Za-z0-9_-]*) fail "STREAMOPS_EDGE_USER must be a user name" ;; esac
    user_line="user $STREAMOPS_EDGE_USER;"
fi

escape() { # for the right-hand side of sed's s|||
    printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'
}

mkdir -p "$state_dir/tmp" "$state_dir/objects"
sed -e "s|@WORKERS@|$(escape "$workers")|g" \
    -e "s|@USER@|$user_line|g" \
    -e "s|@STATE_DIR@|$(escape "$state_dir")|g" \
    -e "s|@ERROR_LOG_LEVEL@|$error_log_level|g" \
    -e "s|@MODULES_DIR@|$(escape "${STREAMOPS_EDGE_MODULES_DIR:-/usr/lib/nginx/modules}")|g" \
    -e "s|@EDGE_DIR@|$(escape "$edge_dir")|g" \
    -e "s|@MEMORY_CACHE_SIZE@|$memory_cache_size|g" \
    -e "s|@CACHE_MAX_SIZE@|$cache_max_size|g" \
    -e "s|@RESOLVER@|$(escape "$resolver")|g" \
    -e "s|@LISTEN_ADDRESS@|$(escape "$listen_address")|g" \
    -e "s|@HTTP_PORT@|$http_port|g" \
    -e "s|@STATUS_PORT@|$status_port|g" \
    -e "s|@ACCESS_LOG@|$(escape "$access_log")|g" \
    -e "s|@RECORDINGS_DIR@|$(escape "$recordings_dir")|g" \
    -e "s|@EDGE_NAME@|$edge_name|g" \
    -e "s|@REAL_IP@|$(escape "$real_ip")|g" \
    -e "s|@TRUSTED_GEO@|$(escape "$trusted_geo")|g" \
    "$edge_dir/nginx.conf.template" >"$state_dir/nginx.conf.tmp"
mv "$state_dir/nginx.conf.tmp" "$state_dir/nginx.conf"

[ "${1:-}" = --render ] && exit 0
# The segment files of an earlier run are listed nowhere any more (edge_store.lua lists them in
# shared memory); an older edge's proxy_cache directory is not used.
rm -rf "$state_dir/objects" "$state_dir/cache"
mkdir -p "$state_dir/objects"
exec "${STREAMOPS_EDGE_NGINX:-nginx}" -p "$state_dir" -c "$state_dir/nginx.conf" -e stderr -g 'daemon off;'
