-- The edge's request flow (nginx.conf.template's `location /`): route the path to a stream of the
-- namespace (the default /streams/<ns>/<name> or a prefix of the routes file), take the token
-- segment out and verify it, classify the request and send it where it is cached:
--   playlists, manifests, parts, init segments -> edge_store (memory, collapsed, short TTLs);
--   segments                    -> @segment (nginx's proxy_cache, collapsed by its lock);
--   anything else (player page, screenshot, clock, WHEP) -> @pass (not cached).
-- Origin requests carry the token segment (the ingest verifies too), only the HLS arguments
-- (never _sid), X-Streamops-Edge and X-Forwarded-For. docs/design/playback.md, "The edge".
local token = require "edge_token"
local stats = require "edge_stats"
local store = require "edge_store"

local re_match, re_gsub = ngx.re.match, ngx.re.gsub

local M = {}

local config = {}
local routes = {} -- {prefix, name}, longest prefix first
local routes_seen
local routes_checked_at = -math.huge
local ROUTES_CHECK_SECONDS = 1

local function env(name, default)
    local value = os.getenv(name)
    if value == nil or value == "" then
        return default
    end
    return value
end

-- init_by_lua: the environment the entrypoint passed (nginx.conf's `env` lines).
function M.init()
    config.namespace = assert(env("STREAMOPS_EDGE_NAMESPACE"), "STREAMOPS_EDGE_NAMESPACE is not set")
    config.domain = env("STREAMOPS_EDGE_CLUSTER_DOMAIN", "cluster.local")
    config.origin_template = env("STREAMOPS_EDGE_ORIGIN", "http://{name}-ingest.{namespace}.svc.{domain}:8080")
    config.routes_file = env("STREAMOPS_EDGE_ROUTES_FILE", "/etc/streamops-edge/routes/routes")
    token.configure(env("STREAMOPS_EDGE_KEYS_DIR", "/etc/streamops-edge/keys"))
    stats.configure(config.namespace, tonumber(env("STREAMOPS_EDGE_VIEWER_WINDOW_SECONDS", "30")))
end

local function origin_for(name)
    return (config.origin_template:gsub("{(%w+)}", {
        name = name, namespace = config.namespace, domain = config.domain,
    }))
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
        table.sort(parsed, function(a, b) return #a.prefix > #b.prefix end)
        routes = parsed
    end
    return routes
end

local NAME = [[^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$]]

-- (name, prefix, rest of the path, public) of a stream this edge serves, or nil.
local function route(uri)
    for _, r in ipairs(current_routes()) do
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

-- What a request asks for, from its file name: decides cache, TTL and the viewer's protocol.
local function classify(rest, blocking)
    local file = rest:match("([^/]*)$")
    if file:find("%.m3u8$") then
        return blocking and "playlist_blocking" or "playlist"
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

local MEMORY_KINDS = { playlist = true, playlist_blocking = true, manifest = true, part = true, init = true }
local HLS_ARGS = { { "_HLS_msn", "^[0-9]{1,12}$" }, { "_HLS_part", "^[0-9]{1,12}$" }, { "_HLS_skip", "^(YES|v2)$" } }
local SAFE_PATH = [[^[A-Za-z0-9._~/-]*$]]

local function refuse(status, body)
    ngx.status = status
    ngx.header["Content-Type"] = "text/plain; charset=utf-8"
    ngx.header["Cache-Control"] = "no-store"
    ngx.header["Access-Control-Allow-Origin"] = "*"
    ngx.header["Access-Control-Expose-Headers"] = "Content-Length, Content-Range, Content-Type, Accept-Ranges, Date, Age"
    ngx.print(body .. "\n")
end

-- The client address a token's ip restriction is checked against (playback_token.client_address).
local function client_address(var)
    local forwarded = var.http_x_forwarded_for
    if forwarded then
        local first = forwarded:match("^%s*([^,%s]+)")
        if first then
            return first
        end
    end
    return var.remote_addr
end

-- content_by_lua of `location /`.
function M.handle()
    local var = ngx.var
    local uri = var.uri
    -- Logged instead of the request line: the token segment blanked; of the query only the HLS
    -- arguments (added below), never _sid.
    var.edge_log_path = (re_gsub(uri, [[/t/[^/]+/]], "/t/-/", "jo"))
    local name, prefix, rest, public = route(uri)
    if not name or not re_match(rest, SAFE_PATH, "jo") then
        return refuse(404, "no such stream on this edge")
    end
    local tok, after = rest:match("^/t/([^/]+)(/.*)$")
    if not tok then
        after = rest
    elseif public then
        tok, uri = nil, prefix .. after -- ignored, as the ingest of a public stream does
    end
    local stream_label = stats.stream_label(name)
    local client = client_address(var)
    var.edge_stream, var.edge_stream_name, var.edge_client = stream_label, name, client

    local args, blocking = {}, false
    for _, a in ipairs(HLS_ARGS) do
        local value = var["arg_" .. a[1]]
        if value then
            if not re_match(value, a[2], "jo") then
                var.edge_kind = "playlist"
                return refuse(400, a[1] .. " is not valid")
            end
            args[#args + 1] = a[1] .. "=" .. value
            blocking = blocking or a[1] ~= "_HLS_skip"
        end
    end
    local method = ngx.req.get_method()
    local kind = classify(after, blocking)
    if method ~= "GET" and method ~= "HEAD" then
        kind = "other"
    end
    var.edge_kind = kind

    if tok then
        local reason = token.verify(tok, config.namespace .. "/" .. name, client)
        if reason then
            stats.refusal(stream_label, reason)
            local refusal = token.REFUSALS[reason]
            return refuse(refusal[1], refusal[2])
        end
    end

    local query = #args > 0 and "?" .. table.concat(args, "&") or ""
    var.edge_log_path = var.edge_log_path .. query
    var.edge_origin = origin_for(name)
    if kind == "other" then
        -- Passed as asked (a page's own arguments), but never the viewer's session id.
        local other = var.args and re_gsub(var.args, [[(^|&)_sid=[^&]*]], "", "jo") or ""
        other = other:gsub("^&", "")
        var.edge_upstream_uri = uri .. (other ~= "" and "?" .. other or "")
        return ngx.exec("@pass")
    end
    var.edge_upstream_uri = prefix .. (tok and "/t/" .. tok or "") .. after .. query
    if kind ~= "manifest" and kind ~= "other" then
        var.edge_protocol = (after:find("^/dash/") and "dash") or
            ((kind == "part" or kind == "playlist_blocking") and "llhls") or "hls"
    else
        var.edge_protocol = "dash"
    end
    -- The contract's cache key: the path without the token, the HLS arguments, whether a valid
    -- token came with it.
    local key = prefix .. after .. query .. "|" .. (tok and "t" or "-")
    var.edge_cache_key = key
    if MEMORY_KINDS[kind] then
        return store.serve({
            key = key, kind = kind, origin = var.edge_origin, upstream_uri = var.edge_upstream_uri,
            log_path = var.edge_log_path, stream_label = stream_label,
        })
    end
    return ngx.exec("@segment")
end

function M.log()
    stats.log()
end

return M
