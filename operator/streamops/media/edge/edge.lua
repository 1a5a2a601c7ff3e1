-- The edge's request flow (nginx.conf.template's `location /`): route the path to a stream of the
-- namespace (the default /streams/<ns>/<name> or a prefix of the routes file), take the token
-- segment out and verify it, classify the request and send it where it is cached:
--   playlists, manifests, parts, init segments, segments -> edge_store (collapsed, TTLs by kind);
--   anything else (player page, screenshot, clock, WHEP) -> @pass (not cached).
-- Origin requests carry the token segment (the ingest verifies too), only the HLS arguments and a
-- playlist's get_duration_sec=true (never _sid, nor a segment's duration_sec=: a segment is the same
-- object with it), X-Streamops-Edge and X-Forwarded-For. docs/design/playback.md, "The edge".
-- Everything that follows from the path alone is worked out once per worker and path (a viewer
-- asks for the same paths as every other), and counting happens here, not in a log phase.
local token = require "edge_token"
local stats = require "edge_stats"
local store = require "edge_store"

local re_match, re_gsub = ngx.re.match, ngx.re.gsub
local find, sub, byte, concat = string.find, string.sub, string.byte, table.concat

local M = {}

local config = {}
local routes = {} -- {prefix, name}, longest prefix first
local routes_seen
local routes_checked_at = -math.huge
local ROUTES_CHECK_SECONDS = 1
-- path -> what follows from it (derive below); emptied when the routes change or when full.
local paths, path_count = {}, 0
local MAX_PATHS = 20000

local function env(name, default)
    local value = os.getenv(name)
    if value == nil or value == "" then
        return default
    end
    return value
end

local function bytes(size) -- nginx's size syntax (entrypoint.sh checked it): 64m, 1g, 4096
    local n, unit = size:match("^(%d+)([kKmMgG]?)$")
    assert(n, "STREAMOPS_EDGE_CACHE_SIZE must be a size like 1g")
    local scale = { [""] = 1, k = 1024, m = 1024 ^ 2, g = 1024 ^ 3 }
    return tonumber(n) * scale[unit:lower()]
end

-- init_by_lua: the environment the entrypoint passed (nginx.conf's `env` lines), and `settings`
-- (files_dir, files_max: a size, access_log: whether the $edge_* log variables are wanted).
function M.init(settings)
    config.namespace = assert(env("STREAMOPS_EDGE_NAMESPACE"), "STREAMOPS_EDGE_NAMESPACE is not set")
    config.domain = env("STREAMOPS_EDGE_CLUSTER_DOMAIN", "cluster.local")
    config.origin_template = env("STREAMOPS_EDGE_ORIGIN", "http://{name}-ingest.{namespace}.svc.{domain}:8080")
    config.routes_file = env("STREAMOPS_EDGE_ROUTES_FILE", "/etc/streamops-edge/routes/routes")
    config.access_log = settings.access_log
    token.configure(env("STREAMOPS_EDGE_KEYS_DIR", "/etc/streamops-edge/keys"))
    stats.configure(config.namespace, tonumber(env("STREAMOPS_EDGE_VIEWER_WINDOW_SECONDS", "30")))
    store.configure(settings.files_dir, "/_edge_files/", bytes(settings.files_max))
end

function M.init_worker()
    stats.init_worker()
    store.init_worker()
end

local function origin_for(name)
    return (config.origin_template:gsub("{(%w+)}", {
        name = name, namespace = config.namespace, domain = config.domain,
    }))
end

local function longer_prefix_first(a, b)
    return #a.prefix > #b.prefix
end

-- The routes file: lines "<prefix> <name>" for streams with a playback path of their own, and
-- "<prefix> <name> public" for public streams (also on the default path): the edge then strips a
-- token unverified, as the contract says a public stream does, instead of refusing a stale one.
local function current_routes()
    local t = ngx.now()
    if t - routes_checked_at < ROUTES_CHECK_SECONDS then
        return routes
    end
    routes_checked_at = t
    local f = io.open(config.routes_file, "rb")
    local text = f and f:read("*a") or ""
    if f then
        f:close()
    end
    if text ~= routes_seen then
        routes_seen = text
        local parsed = {}
        for line in text:gmatch("[^\n]+") do
            local prefix, name, access = line:match("^%s*(/[%w._~/-]*[%w._~-])%s+([%w.-]+)%s*(%a*)%s*$")
            if prefix and (access == "" or access == "public") then
                parsed[#parsed + 1] = { prefix = prefix, name = name, public = access == "public" }
            end
        end
        -- Not an inline function: a function that makes closures ends every return with UCLO,
        -- which LuaJIT 2.1 does not compile, and this one runs on every request.
        table.sort(parsed, longer_prefix_first)
        routes = parsed
        paths, path_count = {}, 0
    end
    return routes
end

local NAME = [[^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$]]

-- (name, prefix, rest of the path, public) of a stream this edge serves, or nil.
local function route(uri)
    for _, r in ipairs(routes) do
        local p = r.prefix
        if uri == p or uri:sub(1, #p + 1) == p .. "/" then
            return r.name, p, uri:sub(#p + 1), r.public
        end
    end
    local ns, name = uri:match("^/streams/([^/]+)/([^/]+)")
    if ns == config.namespace and re_match(name, NAME, "jo") then
        local prefix = "/streams/" .. ns .. "/" .. name
        return name, prefix, uri:sub(#prefix + 1), false
    end
    return nil
end

-- What a request asks for, from its file name: decides cache, TTL and the viewer's protocol
-- ("playlist" becomes "playlist_blocking" with blocking arguments).
local function classify(rest)
    local file = rest:match("([^/]*)$")
    if file:find("%.m3u8$") then
        return "playlist"
    elseif file:find("^part%-%d+%.m4s$") then
        return "part"
    elseif file == "init.mp4" or file:find("^init%-.*%.m4s$") then
        return "init"
    elseif file:find("%.m4s$") or file:find("%.ts$") then
        return "segment"
    elseif file:find("%.mpd$") then
        return "manifest"
    end
    return "other"
end

local function number(value)
    return #value <= 12 and find(value, "^%d+$") ~= nil
end

local function skip(value)
    return value == "YES" or value == "v2"
end

-- name, what "name=" looks like in a query, its check.
local HLS_ARGS = { { "_HLS_msn", "_HLS_msn=", number }, { "_HLS_part", "_HLS_part=", number }, { "_HLS_skip", "_HLS_skip=", skip } }

-- The raw value of the first `name=` argument of `args` (as nginx's $arg_<name>, but with the
-- name's case: the ingest's is too), without ngx.var's lookup and parse per argument.
local function arg_value(args, name_eq)
    local init = 1
    while true do
        local s, e = find(args, name_eq, init, true)
        if not s then
            return nil
        end
        if s == 1 or byte(args, s - 1) == 38 then -- "&"
            local stop = find(args, "&", e + 1, true)
            return sub(args, e + 1, stop and stop - 1 or -1)
        end
        init = e + 1
    end
end
-- `?get_duration_sec=true` on a playlist (the ingest's segment_durations.py).
local DURATIONS = "get_duration_sec="
local SAFE_PATH = [[^[A-Za-z0-9._~/-]*$]]

-- What follows from a request's path alone: {log_path} for no stream of this edge, else also the
-- stream, its label, the token segment, the kind, the origin and the cache key without arguments.
local function derive(uri)
    -- Logged instead of the request line: the token segment blanked.
    local log_path = (re_gsub(uri, [[/t/[^/]+/]], "/t/-/", "jo"))
    local name, prefix, rest, public = route(uri)
    if not name or not re_match(rest, SAFE_PATH, "jo") then
        return { log_path = log_path }
    end
    local tok, after = rest:match("^/t/([^/]+)(/.*)$")
    local pass_path = uri
    if not tok then
        after = rest
    elseif public then
        tok, pass_path = nil, prefix .. after -- ignored, as the ingest of a public stream does
    end
    -- The contract's cache key: the path without the token, the HLS arguments, whether a valid
    -- token came with it.
    local signed = tok and "|t" or "|-"
    local upstream = prefix .. (tok and "/t/" .. tok or "") .. after
    return {
        log_path = log_path, name = name, stream = config.namespace .. "/" .. name,
        label = stats.stream_label(name), tok = tok, kind = classify(after),
        dash = after:find("^/dash/") ~= nil, origin = origin_for(name), pass_path = pass_path,
        path_key = prefix .. after, signed = signed, key = prefix .. after .. signed, upstream = upstream,
        ext = after:match("%.%w+$") or "",
    }
end

local function refuse(status, body)
    ngx.status = status
    ngx.header["Content-Type"] = "text/plain; charset=utf-8"
    ngx.header["Cache-Control"] = "no-store"
    ngx.header["Access-Control-Allow-Origin"] = "*"
    ngx.header["Access-Control-Expose-Headers"] = "Content-Length, Content-Range, Content-Type, Accept-Ranges, Date, Age"
    ngx.print(body .. "\n")
end

-- The client address a token's ip restriction is checked against (playback_token.client_address):
-- nginx's realip module has put it in $remote_addr, believing X-Forwarded-For from trusted proxies
-- only (STREAMOPS_EDGE_TRUSTED_PROXIES); whatever else a client writes there is its own claim.
local function client_address()
    return ngx.var.remote_addr
end

local function user_agent()
    return ngx.var.http_user_agent
end

-- content_by_lua of `location /`.
function M.handle()
    local var = ngx.var
    local uri = var.uri
    current_routes()
    local d = paths[uri]
    if not d then
        d = derive(uri)
        if path_count >= MAX_PATHS then
            paths, path_count = {}, 0
        end
        paths[uri] = d
        path_count = path_count + 1
    end
    local log = config.access_log
    if log then
        var.edge_log_path = d.log_path
    end
    local name = d.name
    if not name then
        return refuse(404, "no such stream on this edge")
    end
    local label, kind = d.label, d.kind

    -- Of the query only the HLS arguments go on (to the key, the origin, the log), never _sid.
    local args = var.args
    local query = ""
    if args and find(args, "_HLS_", 1, true) then
        local present, blocking = {}, false
        for _, a in ipairs(HLS_ARGS) do
            local value = arg_value(args, a[2])
            if value then
                if not a[3](value) then
                    if log then
                        var.edge_kind = "playlist"
                    end
                    stats.request(label, "playlist", "none")
                    return refuse(400, a[1] .. " is not valid")
                end
                present[#present + 1] = a[1] .. "=" .. value
                blocking = blocking or a[1] ~= "_HLS_skip"
            end
        end
        if #present > 0 then
            query = "?" .. concat(present, "&")
        end
        if blocking and kind == "playlist" then
            kind = "playlist_blocking"
        end
    end
    -- The playlist modifier (segment_durations.py) changes the body: in the key, and to the origin.
    -- A segment's or part's duration_sec= is left out of both, so it shares the plain entry.
    if args and (kind == "playlist" or kind == "playlist_blocking") and arg_value(args, DURATIONS) == "true" then
        query = (query == "" and "?" or query .. "&") .. DURATIONS .. "true"
    end
    local method = ngx.req.get_method()
    if method ~= "GET" and method ~= "HEAD" then
        kind = "other"
    end
    if log then
        var.edge_kind = kind
    end

    if d.tok then
        local reason = token.verify(d.tok, d.stream, client_address)
        if reason then
            stats.refusal(label, reason)
            stats.request(label, kind, "none")
            local refusal = token.REFUSALS[reason]
            return refuse(refusal[1], refusal[2])
        end
    end

    local log_path = d.log_path
    if query ~= "" then
        log_path = log_path .. query
        if log then
            var.edge_log_path = log_path
        end
    end
    if kind == "other" then
        -- Passed as asked (a page's own arguments), but never the viewer's session id.
        local other = args and re_gsub(args, [[(^|&)_sid=[^&]*]], "", "jo") or ""
        other = other:gsub("^&", "")
        var.edge_origin = d.origin
        var.edge_upstream_uri = d.pass_path .. (other ~= "" and "?" .. other or "")
        stats.request(label, kind, "pass")
        stats.origin_request(label, kind)
        return ngx.exec("@pass")
    end

    local key, upstream = d.key, d.upstream
    if query ~= "" then
        key, upstream = d.path_key .. query .. d.signed, upstream .. query
    end
    local a, cache = store.fetch(key, kind, d.origin, upstream, log_path, label, d.ext)
    stats.request(label, kind, cache)
    local status = a.status
    if status >= 200 and status < 300 then
        local protocol = "hls"
        if kind == "manifest" or d.dash then
            protocol = "dash"
        elseif kind == "part" or kind == "playlist_blocking" then
            protocol = "llhls"
        end
        stats.viewer(name, protocol, args and arg_value(args, "_sid="), client_address, user_agent)
    end
    return store.respond(a, cache, log)
end

return M
