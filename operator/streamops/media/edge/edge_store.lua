-- The edge's cache: every cached answer (playlists blocking or not, DASH manifests, parts, init
-- segments, segments) is an entry of a shared dict (all workers) with its TTL; a segment's body is a
-- file of its own (nginx sends it with sendfile, from offset 0), every other body is in the entry.
-- Identical requests collapse into one origin request: within a worker the first one leads and the
-- others wait on a semaphore (woken the moment it answers); across workers a lock in a shared dict
-- elects one leader and the other workers' leaders poll for its answer every POLL_SECONDS. nginx's
-- proxy_cache_lock collapses too, but its waiters look again only every 500 ms
-- (ngx_http_file_cache_lock_wait: a timer, no wake-up), more than two 200 ms parts; and
-- proxy_cache keeps its header in front of the body, so sendfile starts mid-page, which cost 2.4×
-- the CPU of an aligned send of a 200 kB segment over loopback: docs/design/playback.md, "The edge".
--
-- A worker keeps the answers it served, decoded, until they expire (the shared dict's copy out and
-- parsing were ~3 µs of a cached part): at most LOCAL_BYTES of bodies, emptied when over.
local semaphore = require "ngx.semaphore"
local stats = require "edge_stats"

local objects = ngx.shared.edge_objects
local locks = ngx.shared.edge_locks
local files = ngx.shared.edge_files
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
-- Segments: immutable names, complete when listed. Kept a minute (a DVR viewer fetches an old one
-- again at most once a minute; a restarted ingest that reuses a name is served its own after a
-- minute at worst).
local SEGMENT_TTL = 60
-- A blocking reload's answer (the playlist once the asked part exists) is what any later request
-- for the same _HLS_msn/_HLS_part may get: kept about a segment's lifetime.
local BLOCKING_TTL = 6
-- Playlists and manifests without blocking arguments: half a part (EXT-X-PART-INF's PART-TARGET),
-- never more than LIVE_TTL_MAX (standard HLS and DASH have no parts).
local LIVE_TTL_MAX = 0.5
local LIVE_TTL_MIN = 0.05
-- Errors live just long enough for the other workers' pollers to pick them up; 404 briefly (a
-- part asked for too early must not stick); the origin's 400 (the arguments) and its 401 to a
-- request without a token (every one of them gets it) a second (the contract).
local ERROR_TTL = 0.05
local NOT_FOUND_TTL = 0.1
local REFUSED_TTL = 1
-- An answer about who asked, not about the object: the ingest's refusal of a token the edge let
-- through (another key set during a rotation, an expiry the second the edge checked, an address
-- the ingest sees otherwise) and its 429 (an address's share of a cap). Never kept, nor handed to
-- a request collapsed onto it: under a key every token holder shares, one bad request refused
-- them all for a second (issue 52, finding 7). Those waiting on it ask again, at most this often;
-- then on their own.
local PERSONAL = { [401] = true, [403] = true, [429] = true }
local ASK_AGAIN = 2
-- A segment file outlives its entry this long before it is removed: a request that read the entry
-- just before it expired still opens it.
local FILE_GRACE = 10
local SWEEP_SECONDS = 5
local FILE_BYTES = "#bytes"
local LOCAL_BYTES = 16 * 1024 * 1024

-- Origin headers kept with a cached answer (the rest are per-connection or nginx's own). A
-- segment file gets nginx's own Last-Modified and ETag (of the file) instead of the origin's.
local KEPT_HEADERS = {
    "Content-Type", "Cache-Control", "Surrogate-Control", "Last-Modified", "ETag",
    "Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "X-Streamops-Refused",
}
-- The ingest's refusal by a PlaybackPolicy's rules (docs/design/playback-rules.md): about the
-- viewer whose request led, signed or not, so never kept nor handed to another (PERSONAL's rule).
local RULES_REFUSED = "X-Streamops-Refused"
local FILE_SKIPPED = { ["Last-Modified"] = true, ETag = true }

local files_dir, files_uri, files_max
local file_prefix -- this worker's: its pid and start time (a later worker may get the same pid)
local file_serial = 0
local inflight = {} -- key -> {sema, waiters, answer}: this worker's origin requests in flight
local decoded, decoded_bytes = {}, 0 -- key -> answer (below): this worker's copies

-- `dir`: where segment files go (emptied by entrypoint.sh at start); `uri`: the internal location
-- that serves it; `max_bytes`: their total at most (past it, segments stay in memory).
function M.configure(dir, uri, max_bytes)
    files_dir, files_uri, files_max = dir, uri, max_bytes
end

-- Whether answer `status` to a request (`signed`: with a token) is about that request alone. An
-- unsigned request's 401 is every unsigned request's: kept like any refusal.
local function personal(status, signed)
    return PERSONAL[status] and (signed or status == 429)
end

-- Seconds answer `status` is kept, or nil: never (a personal answer).
local function ttl(kind, status, body, signed)
    if personal(status, signed) then
        return nil
    end
    if status == 200 then
        if kind == "part" then
            return PART_TTL
        elseif kind == "init" then
            return INIT_TTL
        elseif kind == "segment" then
            return SEGMENT_TTL
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

-- An answer as one string: "<expires> <status> <file or ->\n<Name: value>\n...\n\n<body>".
local function encode(expires, status, headers, body, file)
    local lines = { ("%.3f %d %s"):format(expires, status, file or "-") }
    for _, name in ipairs(KEPT_HEADERS) do
        local value = headers[name]
        if type(value) == "table" then
            value = value[1]
        end
        if value and not (file and FILE_SKIPPED[name]) then
            lines[#lines + 1] = name .. ": " .. value
        end
    end
    return table.concat(lines, "\n") .. "\n\n" .. (body or "")
end

-- {expires, status, file or false, headers {name, value, ...}, body}
local function decode(answer)
    local head_end = answer:find("\n\n", 1, true)
    local first_end = answer:find("\n", 1, true)
    local expires, status, file = answer:sub(1, first_end - 1):match("^(%S+) (%d+) (%S+)$")
    local headers = {}
    local refused = false
    if head_end > first_end then
        for line in answer:sub(first_end + 1, head_end - 1):gmatch("[^\n]+") do
            local name, value = line:match("^([^:]+): (.*)$")
            headers[#headers + 1] = name
            headers[#headers + 1] = value
            refused = refused or name == RULES_REFUSED
        end
    end
    return {
        expires = tonumber(expires), status = tonumber(status), file = file ~= "-" and file,
        headers = headers, body = answer:sub(head_end + 2), refused = refused,
    }
end

local function write_file(name, body)
    local tmp = files_dir .. "/." .. name
    local f = io.open(tmp, "wb")
    if not f then
        return false
    end
    local ok = f:write(body)
    f:close()
    if not ok or not os.rename(tmp, files_dir .. "/" .. name) then
        os.remove(tmp)
        return false
    end
    return true
end

-- A segment's body into a file of its own (named after nothing of the request: the path could
-- carry anything), or nil when the files are full or the write failed (then it stays in memory).
local function store_file(body, expires, ext)
    local size = #body
    local total = files:incr(FILE_BYTES, size, 0)
    if not total or total > files_max then
        files:incr(FILE_BYTES, -size, 0)
        return nil
    end
    file_serial = file_serial + 1
    local name = ("%s-%d%s"):format(file_prefix, file_serial, ext)
    if not write_file(name, body) or not files:set(name, expires, 0, size) then
        os.remove(files_dir .. "/" .. name)
        files:incr(FILE_BYTES, -size, 0)
        return nil
    end
    return name
end

-- worker 0's timer: files whose entry expired more than FILE_GRACE ago are removed.
local function sweep(premature)
    if premature then
        return
    end
    local t = now()
    for _, name in ipairs(files:get_keys(0)) do
        if name ~= FILE_BYTES then
            local expires, size = files:get(name)
            if expires and expires + FILE_GRACE < t then
                os.remove(files_dir .. "/" .. name)
                files:delete(name)
                files:incr(FILE_BYTES, -(size or 0), 0)
            end
        end
    end
end

function M.init_worker()
    file_prefix = ("%d-%d"):format(ngx.worker.pid(), ngx.now() * 1000)
    if ngx.worker.id() == 0 then
        local ok, err = ngx.timer.every(SWEEP_SECONDS, sweep)
        if not ok then
            ngx.log(ngx.CRIT, "edge store timer: ", err)
        end
    end
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
    local body = status < 500 and res.body or "origin error\n"
    local t = ttl(req.kind, status, body, req.signed)
    if res.header[RULES_REFUSED] then
        t = nil
    end
    local expires = t and now() + t or 0 -- 0: expired, for this worker's copies too
    local file = status == 200 and req.kind == "segment" and store_file(body, expires, req.ext)
    return encode(expires, status, res.header, not file and body or nil, file), t
end

-- The answer for `req.key`: from the shared dict, or from one origin request for all who ask.
local function lead(req)
    local deadline = now() + WAIT_SECONDS
    while true do
        if locks:add(req.key, true, WAIT_SECONDS) then
            local ok, answer, t = pcall(origin_fetch, req)
            if ok and t then
                -- A refused set (no memory) only costs other workers an origin request of their own.
                objects:set(req.key, answer, t)
            end
            -- A personal answer is not set: the other workers' pollers see the lock go and ask
            -- for themselves.
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
            return encode(now(), 504, {}, "origin timed out\n"), "collapsed"
        end
    end
end

local function keep(key, a)
    if a.expires <= now() then
        return
    end
    local size = #a.body + 256 -- the entry's own
    if decoded_bytes + size > LOCAL_BYTES then
        decoded, decoded_bytes = {}, 0
    end
    decoded[key] = a
    decoded_bytes = decoded_bytes + size
end

-- Sends answer `a` (from M.fetch); `cache` says how it was found; `log`: also into $edge_cache.
function M.respond(a, cache, log)
    local header = ngx.header
    local headers = a.headers
    for i = 1, #headers, 2 do
        header[headers[i]] = headers[i + 1]
    end
    header["X-Streamops-Edge-Cache"] = cache
    if log then
        ngx.var.edge_cache = cache
    end
    if a.file then
        return ngx.exec(files_uri .. a.file)
    end
    ngx.status = a.status
    header["Content-Length"] = #a.body
    ngx.print(a.body)
end

-- Keeps answer `a` (fetched under another key) also as the answer for `key` until it expires,
-- unless `key` has one already.
function M.alias(key, a)
    local t = a.expires - now()
    if t <= 0 or a.file then
        return
    end
    local lines = { ("%.3f %d -"):format(a.expires, a.status) }
    local headers = a.headers
    for i = 1, #headers, 2 do
        lines[#lines + 1] = headers[i] .. ": " .. headers[i + 1]
    end
    if objects:add(key, table.concat(lines, "\n") .. "\n\n" .. a.body, t) then
        keep(key, a)
    end
end

-- Whether an answer for `key` is cached (in this worker's copies or the shared dict). One found in
-- the shared dict is kept decoded here, so the M.fetch that follows does not copy it out again.
function M.cached(key)
    local a = decoded[key]
    if a and a.expires > now() then
        return true
    end
    local answer = objects:get(key)
    if answer then
        keep(key, decode(answer))
        return true
    end
    return false
end

-- An origin request's description (made only when one is sent: a hit allocates nothing; and no
-- closure in M.fetch: LuaJIT 2.1 compiles no function that makes one).
local function request(key, kind, origin, upstream_uri, log_path, stream_label, ext, signed)
    return {
        key = key, kind = kind, origin = origin, upstream_uri = upstream_uri, log_path = log_path,
        stream_label = stream_label, ext = ext, signed = signed,
    }
end

-- The answer for `key` (`a.status`, for the counters) and how it was found (hit, miss, collapsed):
-- from this worker's copies, the shared dict, or the origin (`origin`, `upstream_uri`, `log_path`,
-- `stream_label`, `ext`: the origin request's; `signed`: it carries a token), once for all who ask
-- at the same time. "miss": this request's own origin answer (a personal one is only ever that).
function M.fetch(key, kind, origin, upstream_uri, log_path, stream_label, ext, signed)
    local flight, answer, a
    for asked = 0, ASK_AGAIN do
        a = decoded[key]
        if a and a.expires > now() then
            return a, "hit"
        end
        answer = objects:get(key)
        if answer then
            a = decode(answer)
            keep(key, a)
            return a, "hit"
        end
        flight = inflight[key]
        if not flight then
            break
        elseif asked == ASK_AGAIN then
            -- Personal answers every time: this request's own, outside the flight.
            local own = origin_fetch(request(key, kind, origin, upstream_uri, log_path, stream_label, ext, signed))
            return decode(own), "miss"
        end
        flight.waiters = flight.waiters + 1
        a = flight.sema:wait(WAIT_SECONDS) and flight.answer
        if not a then -- timed out, or the leader's request failed
            return decode(encode(now(), 504, {}, "origin timed out\n")), "collapsed"
        elseif not (personal(a.status, signed) or a.refused) then
            return a, "collapsed"
        end
    end
    flight = { sema = semaphore.new(), waiters = 0 }
    inflight[key] = flight
    local ok, cache
    ok, answer, cache = pcall(lead, request(key, kind, origin, upstream_uri, log_path, stream_label, ext, signed))
    inflight[key] = nil
    a = ok and decode(answer) or nil
    flight.answer = a
    if flight.waiters > 0 then
        flight.sema:post(flight.waiters)
    end
    if not ok then
        error(answer)
    end
    keep(key, a)
    return a, cache
end

return M
