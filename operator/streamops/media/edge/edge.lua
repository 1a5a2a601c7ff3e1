-- The edge's request flow (nginx.conf.template's `location /`): route the path to a stream the
-- routes file lists (nothing else: 404, no origin request), take the token segment out and verify
-- it, admit only the paths and methods the ingest's public face serves (404/405 otherwise), hold
-- blocking playlist requests to the live edge (edge_live) and send the request where it is cached:
--   playlists, manifests, parts, init segments, segments -> edge_store (collapsed, TTLs by kind);
--   the player page and assets, a broadcast's page and state, the screenshot, the clock, WHIP/WHEP
--   -> @pass (not cached).
-- Origin requests carry the token segment (the ingest verifies too), only the HLS arguments and a
-- playlist's get_duration_sec=true (never _sid, nor a segment's duration_sec=: a segment is the same
-- object with it), X-Streamops-Edge, X-Forwarded-For and, when passed, X-Forwarded-Proto (the
-- edge's own, or its trusted proxy's). docs/design/playback.md, "The edge".
-- Everything that follows from the path alone is worked out once per worker and path (a viewer
-- asks for the same paths as every other), and counting happens here, not in a log phase.
local answer = require "edge_answer"
local token = require "edge_token"
local stats = require "edge_stats"
local store = require "edge_store"
local live = require "edge_live"
local rules = require "edge_rules"

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
    -- A stream's rules are `<name>.rules` beside the routes file (one ConfigMap, swapped at once).
    rules.configure(config.routes_file:match("^(.*)/[^/]*$") or ".", env("STREAMOPS_EDGE_GEOIP_FILE", ""))
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

-- A stream's name as the origin host's first label: a DNS-1123 label that stays one (63 at most)
-- with "-ingest" after it, so no name can reach another host, namespace or service.
local NAME = [[^[a-z0-9]([-a-z0-9]{0,54}[a-z0-9])?$]]
local function served_name(name)
    return re_match(name, NAME, "jo") ~= nil
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
            if prefix and (access == "" or access == "public") and served_name(name) then
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

-- (name, prefix, rest of the path, public) of a stream this edge serves (the routes file lists
-- every one), or nil: no other name ever becomes an origin host.
local function route(uri)
    for _, r in ipairs(routes) do
        local p = r.prefix
        if uri == p or uri:sub(1, #p + 1) == p .. "/" then
            return r.name, p, uri:sub(#p + 1), r.public
        end
    end
    return nil
end

-- What a cached request asks for, from its file name: decides cache, TTL and the viewer's protocol
-- ("playlist" becomes "playlist_blocking" with blocking arguments); nil: nothing the ingest serves.
local function media_kind(file, dash)
    if not dash and file:find("%.m3u8$") then
        return "playlist"
    elseif file:find("^part%-%d+%.m4s$") then
        return "part"
    elseif file == "init.mp4" or file:find("^init%-%d+%.mp4$") or file:find("^init%-.*%.m4s$") then
        return "init"
    elseif file:find("%.m4s$") or (not dash and file:find("%.ts$")) then
        return "segment"
    elseif dash and file:find("%.mpd$") then
        return "manifest"
    end
    return nil
end

-- Methods per path: media and pages are read (the edge answers their CORS preflight itself, as
-- the ingest's middleware does), WHIP/WHEP take an offer and end or patch a session.
local READ = { GET = true, HEAD = true, OPTIONS = "preflight", allow = "GET, HEAD, OPTIONS" }
local OFFER = { POST = true, OPTIONS = true, allow = "POST, OPTIONS" }
local SESSION = { DELETE = true, PATCH = true, OPTIONS = true, allow = "DELETE, PATCH, OPTIONS" }
local PAGES = { ["/screenshot.jpg"] = true, ["/time"] = true, ["/player"] = true, ["/player/"] = true }
local SEGMENT_NAME = "[A-Za-z0-9_][A-Za-z0-9._-]*"
-- A key id as the ingest makes them (media/ingest/encryption.py): 8 lower-case hex digits, an epoch.
local KEY_PATH = "^/key/" .. string.rep("[0-9a-f]", 8) .. "%-%d+$"
local KEY_PATH_MAX = #"/key/01234567-" + 19

-- (kind, methods) of a path after the prefix and token segment, as the ingest's public face routes
-- it (media/ingest/routes.py, player/page.py, webrtc/routes.py); nil: 404 without asking it.
-- WHIP and the publish page are not under a token segment there either.
local function classify(after, signed)
    local file = after:match("^/hls/" .. SEGMENT_NAME .. "/(" .. SEGMENT_NAME .. ")$")
        or after:match("^/hls/" .. SEGMENT_NAME .. "/" .. SEGMENT_NAME .. "/(" .. SEGMENT_NAME .. ")$")
    if file then
        local kind = media_kind(file, false)
        return kind, kind and READ
    end
    file = after:match("^/dash/(" .. SEGMENT_NAME .. ")$")
    if file then
        local kind = media_kind(file, true)
        return kind, kind and READ
    end
    if PAGES[after] or after:find("^/player/" .. SEGMENT_NAME .. "$") then
        return "other", READ
    end
    -- An encrypted stream's content key (media/ingest/encrypted_hls.py): passed to the ingest with
    -- the token (the same gate as the media), never stored: "other" never reaches edge_store.
    if #after <= KEY_PATH_MAX and after:find(KEY_PATH) then
        return "other", READ
    end
    -- A broadcast's page and state document (player/broadcast.py): its name is a DNS-1123 label.
    local broadcast = after:match("^/broadcasts/[a-z0-9][a-z0-9-]*/(.+)$")
    if broadcast == "player" or broadcast == "state.json" then
        return "other", READ
    end
    local webrtc, session = after:match("^/(wh[ei]p)(.*)$")
    if webrtc and (webrtc == "whep" or not signed) then
        if session == "" then
            return "other", OFFER
        elseif session:find("^/[A-Za-z0-9_-]+$") then
            return "other", SESSION
        end
    end
    if not signed and (after == "/publish" or after == "/publish/") then
        return "other", READ
    end
    return nil
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

-- A playlist's query as keyed and sent to the origin ("" when plain): the blocking arguments, the
-- skip, and the modifier (segment_durations.py changes the body, so it is in the key and goes to
-- the origin; a segment's or part's duration_sec= is left out of both: it shares the plain entry).
local function playlist_query(blocking, skipping, timed)
    local present = {}
    present[#present + 1] = blocking
    present[#present + 1] = skipping
    if timed then
        present[#present + 1] = DURATIONS .. "true"
    end
    return #present > 0 and "?" .. concat(present, "&") or ""
end
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
    local kind, methods = classify(after or rest, tok ~= nil)
    if not kind then
        return { log_path = log_path, unknown = true, label = stats.stream_label(name) }
    end
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
        label = stats.stream_label(name), tok = tok, kind = kind, methods = methods,
        dash = after:find("^/dash/") ~= nil, origin = origin_for(name), pass_path = pass_path,
        path_key = prefix .. after, signed = signed, key = prefix .. after .. signed, upstream = upstream,
        ext = after:match("%.%w+$") or "",
    }
end

local refuse = answer.refuse
local client_address = answer.client_address

local function user_agent()
    return ngx.var.http_user_agent
end

local PREFLIGHT = {
    ["Access-Control-Allow-Origin"] = "*",
    ["Access-Control-Expose-Headers"] = "Content-Length, Content-Range, Content-Type, Accept-Ranges, Date, Age, X-Streamops-Refused",
    ["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS",
    ["Access-Control-Allow-Headers"] = "Range, Origin, Accept, Content-Type, Cache-Control",
    ["Access-Control-Max-Age"] = "86400",
}

-- The ingest's own answer to a preflight of a media path (worker_http.py), without asking it.
local function preflight()
    ngx.status = 204
    for name, value in pairs(PREFLIGHT) do
        ngx.header[name] = value
    end
end

-- An object through the store (a signed request's refusals are its own: edge_store.lua). A token
-- the ingest refused on this request's own origin request is refused here too from now on.
local function fetch(d, key, kind, upstream, log_path)
    local a, cache = store.fetch(key, kind, d.origin, upstream, log_path, d.label, d.ext, d.tok ~= nil)
    -- (Not a refusal by the ingest's playback rules: about the viewer, not the token.)
    if cache == "miss" and d.tok and (a.status == 401 or a.status == 403) and not a.refused then
        token.refused_upstream(d.tok, d.stream, a.body)
    end
    return a, cache
end

-- A playlist through the store; an answer the edge fetched itself tells where the live edge is.
local function playlist(d, key, kind, upstream, log_path)
    local a, cache = fetch(d, key, kind, upstream, log_path)
    if cache == "miss" and a.status == 200 then
        live.learn(d.path_key, a.body)
    end
    return a, cache
end

-- X-Forwarded-Proto of a request passed to the ingest: this connection's scheme ($scheme, which
-- nginx.conf sets already), or, from a trusted proxy ($edge_peer_trusted), the last value that
-- proxy sent (every line of the header, in order: a client's own come first), as
-- key_bearing.over_https reads it. A client's own value is never passed on: a plain-HTTP client
-- that said "https" was served WHIP and the publish page, which carry the stream key, where the
-- ingest refuses them (issue 52, finding 10).
local function forwarded_proto(var)
    if var.edge_peer_trusted ~= "1" then
        return
    end
    local value = ngx.req.get_headers(100)["X-Forwarded-Proto"]
    if type(value) == "table" then
        value = concat(value, ",")
    end
    local last = value and value:match("([^,]*)$"):match("^%s*(.-)%s*$")
    if last == "https" or last == "http" then
        var.edge_forwarded_proto = last
    end
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
        if d.unknown then
            stats.request(d.label, "other", "none")
        end
        return refuse(404, d.unknown and "not found" or "no such stream on this edge")
    end
    local label, kind = d.label, d.kind
    local method = ngx.req.get_method()
    local allowed = d.methods[method]
    if not allowed then
        stats.request(label, kind, "none")
        ngx.header["Allow"] = d.methods.allow
        return refuse(405, "method not allowed")
    elseif allowed == "preflight" then
        stats.request(label, kind, "none")
        return preflight()
    end

    -- A PlaybackPolicy's rules, before the token and the store: a refused viewer gets nothing cached.
    local ruled = rules.check(name, client_address())
    if ruled then
        stats.refusal(label, ruled)
        stats.request(label, kind, "none")
        local refusal = rules.ANSWERS[ruled]
        ngx.header["X-Streamops-Refused"] = ruled
        return refuse(refusal[1], refusal[2])
    end

    -- Before anything reaches the store: a bad token must not fetch (and key) a signed answer.
    if d.tok then
        local reason = token.verify(d.tok, d.stream, client_address)
        if reason then
            stats.refusal(label, reason)
            stats.request(label, kind, "none")
            local refusal = token.REFUSALS[reason]
            return refuse(refusal[1], refusal[2])
        end
    end

    -- Of the query only the HLS arguments of a playlist go on (to the key, the origin, the log),
    -- numbers in their shortest form: any other argument, order or spelling is the same request.
    local args = var.args
    local query = ""
    local blocking, skipping, timed
    if args and kind == "playlist" then
        local msn, part
        if find(args, "_HLS_", 1, true) then
            for _, a in ipairs(HLS_ARGS) do
                local value = arg_value(args, a[2])
                if value then
                    if not a[3](value) then
                        stats.request(label, "playlist", "none")
                        return refuse(400, a[1] .. " is not valid")
                    end
                    if a[1] == "_HLS_msn" then
                        msn = tonumber(value)
                    elseif a[1] == "_HLS_part" then
                        part = tonumber(value)
                    else
                        skipping = a[1] .. "=" .. value
                    end
                end
            end
        end
        if part and not msn then
            stats.request(label, "playlist", "none")
            return refuse(400, "_HLS_part needs _HLS_msn")
        end
        timed = arg_value(args, DURATIONS) == "true"
        if msn then
            local verdict, now_args = live.judge(d.path_key, msn, part)
            if verdict == "unknown" or verdict == "ahead" then
                -- Learn (again) from the plain playlist, cached less than a part: a live edge the
                -- edge last saw a while ago must not refuse a viewer who is right.
                local a, cache = playlist(d, d.key, "playlist", d.upstream, d.log_path)
                if a.status ~= 200 then
                    stats.request(label, "playlist", cache)
                    return store.respond(a, cache, log)
                end
                verdict, now_args = live.judge(d.path_key, msn, part)
            end
            if verdict == "ahead" then
                stats.request(label, "playlist_blocking", "none")
                return refuse(400, "_HLS_msn/_HLS_part is too far ahead of the live edge")
            elseif verdict == "now" then
                -- An answer cached for exactly what was asked lists the asked part: it is served
                -- (BLOCKING_TTL's promise). Otherwise the newest listed part stands for it.
                local asked = "_HLS_msn=" .. msn .. (part and "&_HLS_part=" .. part or "")
                if store.cached(d.path_key .. playlist_query(asked, skipping, timed) .. d.signed) then
                    blocking = asked
                else
                    blocking = now_args
                end
            elseif verdict == "ok" then
                blocking = "_HLS_msn=" .. msn .. (part and "&_HLS_part=" .. part or "")
            end -- "unknown" still: no parts in this playlist, so nothing to block on: the plain one
            if blocking then
                kind = "playlist_blocking"
            end
        end
        query = playlist_query(blocking, skipping, timed)
    end
    if log then
        var.edge_kind = kind
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
        forwarded_proto(var)
        stats.request(label, kind, "pass")
        stats.origin_request(label, kind)
        return ngx.exec("@pass")
    end

    local key, upstream = d.key, d.upstream
    if query ~= "" then
        key, upstream = d.path_key .. query .. d.signed, upstream .. query
    end
    local a, cache
    if kind == "playlist" or kind == "playlist_blocking" then
        a, cache = playlist(d, key, kind, upstream, log_path)
        if kind == "playlist_blocking" and cache == "miss" and a.status == 200 then
            -- The origin answers with its newest playlist, which may list more than was asked:
            -- it is also the answer to the request its newest part stands for ("now" requests).
            local newest = live.newest(a.body)
            if newest and newest ~= blocking then
                store.alias(d.path_key .. playlist_query(newest, skipping, timed) .. d.signed, a)
            end
        end
    else
        a, cache = fetch(d, key, kind, upstream, log_path)
    end
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
