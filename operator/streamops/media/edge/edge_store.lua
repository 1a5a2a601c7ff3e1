-- The edge's memory cache for what LL-HLS players wait on: playlists (blocking or not), DASH
-- manifests, parts and init segments. Identical requests collapse into one origin request: within a worker the
-- first one leads and the others wait on a semaphore (woken the moment it answers); across
-- workers a lock in a shared dict elects one leader and the other workers' leaders poll for its
-- answer every POLL_SECONDS. nginx's proxy_cache_lock collapses too, but its waiters look again
-- only every 500 ms (ngx_http_file_cache_lock_wait: a timer, no wake-up), more than two 200 ms
-- parts: measured in docs/design/playback.md, "The edge".
local semaphore = require "ngx.semaphore"
local stats = require "edge_stats"

local objects = ngx.shared.edge_objects
local locks = ngx.shared.edge_locks
local capture = ngx.location.capture
local re_match = ngx.re.match
local now, sleep = ngx.now, ngx.sleep

local M = {}

local POLL_SECONDS = 0.005
-- Longer than the origin blocks a playlist request (up to about three parts past the live edge)
-- and than proxy_read_timeout of the origin location.
local WAIT_SECONDS = 16
-- Parts are fetched near the live edge only (listed for ~3 target durations): 10 s covers every
-- live viewer, and a restarted ingest's new part-0 does not meet an old one for long.
local PART_TTL = 10
-- init.mp4 keeps its name across publishing sessions whose codec settings may differ; every
-- viewer fetches it once when it joins (small: here rather than behind nginx's 500 ms lock wait).
local INIT_TTL = 2
-- A blocking reload's answer (the playlist once the asked part exists) is what any later request
-- for the same _HLS_msn/_HLS_part may get: kept about a segment's lifetime.
local BLOCKING_TTL = 6
-- Playlists and manifests without blocking arguments: half a part (EXT-X-PART-INF's PART-TARGET),
-- never more than LIVE_TTL_MAX (standard HLS and DASH have no parts).
local LIVE_TTL_MAX = 0.5
local LIVE_TTL_MIN = 0.05
-- Errors live just long enough for the other workers' pollers to pick them up; 404 briefly (a
-- part asked for too early must not stick); refusals of the origin a second (the contract).
local ERROR_TTL = 0.05
local NOT_FOUND_TTL = 0.1
local REFUSED_TTL = 1

-- Origin headers kept with a cached answer (the rest are per-connection or nginx's own).
local KEPT_HEADERS = {
    "Content-Type", "Cache-Control", "Last-Modified", "ETag",
    "Access-Control-Allow-Origin", "Access-Control-Expose-Headers",
}

local inflight = {} -- key -> {sema, waiters, answer}: this worker's origin requests in flight

local function ttl(kind, status, body)
    if status == 200 then
        if kind == "part" then
            return PART_TTL
        elseif kind == "init" then
            return INIT_TTL
        elseif kind == "playlist_blocking" then
            return BLOCKING_TTL
        end
        local m = re_match(body, [[#EXT-X-PART-INF:PART-TARGET=([0-9.]+)]], "jo")
        local half = m and tonumber(m[1]) and tonumber(m[1]) / 2 or LIVE_TTL_MAX
        return math.max(LIVE_TTL_MIN, math.min(LIVE_TTL_MAX, half))
    elseif status == 401 or status == 403 or status == 400 then
        return REFUSED_TTL
    elseif status == 404 then
        return NOT_FOUND_TTL
    end
    return ERROR_TTL
end

-- An answer as one string: "<status>\n<Name: value>\n...\n\n<body>".
local function encode(status, headers, body)
    local lines = { tostring(status) }
    for _, name in ipairs(KEPT_HEADERS) do
        local value = headers[name]
        if type(value) == "table" then
            value = value[1]
        end
        if value then
            lines[#lines + 1] = name .. ": " .. value
        end
    end
    return table.concat(lines, "\n") .. "\n\n" .. (body or "")
end

local function origin_fetch(req)
    stats.origin_request(req.stream_label, req.kind)
    local res = capture("/_edge_origin", {
        method = ngx.HTTP_GET,
        vars = { edge_origin = req.origin, edge_upstream_uri = req.upstream_uri, edge_log_path = req.log_path },
    })
    local status = res.status
    if res.truncated then
        status = 502
    end
    return encode(status, res.header, status < 500 and res.body or "origin error\n"), status, res.body
end

-- The answer for `req.key`: from the shared dict, or from one origin request for all who ask.
local function lead(req)
    local deadline = now() + WAIT_SECONDS
    while true do
        if locks:add(req.key, true, WAIT_SECONDS) then
            local ok, answer, status, body = pcall(origin_fetch, req)
            if ok then
                -- A refused set (no memory) only costs other workers an origin request of their own.
                objects:set(req.key, answer, ttl(req.kind, status, body))
            end
            locks:delete(req.key)
            if not ok then
                error(answer)
            end
            return answer, "miss"
        end
        repeat -- another worker's request is in flight
            sleep(POLL_SECONDS)
            local answer = objects:get(req.key)
            if answer then
                return answer, "collapsed"
            end
        until not locks:get(req.key) or now() > deadline
        if now() > deadline then
            return encode(504, {}, "origin timed out\n"), "collapsed"
        end
    end
end

local function respond(answer, cache)
    local head_end = answer:find("\n\n", 1, true)
    local head = answer:sub(1, head_end - 1)
    local status
    for line in head:gmatch("[^\n]+") do
        if not status then
            status = tonumber(line)
        else
            local name, value = line:match("^([^:]+): (.*)$")
            ngx.header[name] = value
        end
    end
    local body = answer:sub(head_end + 2)
    ngx.status = status
    ngx.header["Content-Length"] = #body
    ngx.header["X-Streamops-Edge-Cache"] = cache
    ngx.var.edge_cache = cache
    ngx.print(body)
end

-- Serves `req` (key, kind, origin, upstream_uri, log_path, stream_label) from the memory cache.
function M.serve(req)
    local answer = objects:get(req.key)
    if answer then
        return respond(answer, "hit")
    end
    local flight = inflight[req.key]
    if flight then
        flight.waiters = flight.waiters + 1
        local ok = flight.sema:wait(WAIT_SECONDS)
        if ok and flight.answer then
            return respond(flight.answer, "collapsed")
        end
        return respond(encode(504, {}, "origin timed out\n"), "collapsed")
    end
    flight = { sema = semaphore.new(), waiters = 0 }
    inflight[req.key] = flight
    local ok, answer, cache = pcall(lead, req)
    inflight[req.key] = nil
    flight.answer = ok and answer or nil
    if flight.waiters > 0 then
        flight.sema:post(flight.waiters)
    end
    if not ok then
        error(answer)
    end
    return respond(answer, cache)
end

return M
