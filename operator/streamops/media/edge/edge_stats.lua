-- What the edge counts, in shared dicts (all workers): viewer requests, origin requests, refusals
-- (counters), viewer sessions (one key per stream/protocol/session that expires after the window:
-- one of SESSIONS_PER_SOURCE slots of the client's address, so that invented _sid values count as
-- a bounded number of viewers);
-- and the status port's answers, /viewers (JSON, docs/design/playback.md) and /metrics
-- (Prometheus text). Labels are bounded: kinds and reasons are fixed sets, streams are capped.
--
-- Per request, the shared dicts are written as little as possible (each write takes the dict's
-- lock and hashes the key; docs/design/playback.md, "What a request costs"): request counters
-- add up in a table of the worker and reach the dict every FLUSH_SECONDS (and /metrics waits for
-- every worker's next flush, so what was answered before a scrape is in it); a session this worker
-- wrote less than window/10 ago is not written again (its key lives window + window/10: it leaves
-- the list up to window/10 late, never early). Origin requests and refusals are rare: written at once.
local crypto = require "edge_crypto"

local metrics = ngx.shared.edge_metrics
local viewers = ngx.shared.edge_viewers
local streams = ngx.shared.edge_streams
local now = ngx.now

local M = {}

-- Stream names are Kubernetes names checked by the router, but anyone can make up requests for
-- names that do not exist: past this many, new names are counted as "_other".
local MAX_STREAM_LABELS = 500
local OTHER_STREAM = "_other"
local STREAM_COUNT = "#count"
local PROTOCOLS = { "hls", "llhls", "dash" }
-- Hashes listed per stream and protocol at most (streamops.contract.edge.MAX_SESSIONS): the
-- operator unions the replicas' lists; the gauge counts them all.
local MAX_SESSIONS = 5000
-- streamops.media.ingest.viewers.SESSIONS_PER_SOURCE: sessions counted per stream, protocol and
-- client address (an IPv6 one: its /64) at once; past them a client's invented _sid (or
-- User-Agent) is no viewer (issue 52, finding 10). Each holds a slot key of that address.
local SESSIONS_PER_SOURCE = 256
-- Slots a new session tries, from one its hash picks: a crowd of half the bound behind one address
-- finds a free one in all but ~1 try in 300; an invented session costs this many lookups, once
-- per worker and window/10.
local SLOT_TRIES = 8
local FLUSH_SECONDS = 0.1
local FLUSHED = "#flushed\t" -- .. worker id: when that worker last flushed
local SCRAPE_WAIT_SECONDS = 0.5

local namespace = ""
local window = 30
local refresh = 3 -- seconds a session this worker wrote is not written again
local known_streams = {} -- this worker's names already admitted
local pending = {} -- stream -> {"kind\tcache" -> requests not yet in the shared dict}
-- stream -> protocol -> session id (or "\0" client "\n" UA) -> {when this worker wrote it, hash}:
-- kept a window, so that a session's hash is computed once per worker (SHA-256 and its hex were
-- 2.6 % of the edge's CPU with 1,000 HLS viewers, each written every 3 s by both workers).
local seen = {}
local swept_at = 0

function M.configure(ns, window_seconds)
    namespace = ns
    window = window_seconds
    refresh = window / 10
end

function M.window()
    return window
end

function M.stream_label(name)
    if known_streams[name] then
        return name
    end
    if streams:get(name) then
        known_streams[name] = true
        return name
    end
    if (streams:get(STREAM_COUNT) or 0) >= MAX_STREAM_LABELS then
        return OTHER_STREAM
    end
    if streams:add(name, true) then
        streams:incr(STREAM_COUNT, 1, 0)
    end
    known_streams[name] = true
    return name
end

local function incr(key, n)
    local _, err = metrics:incr(key, n or 1, 0)
    if err then
        ngx.log(ngx.CRIT, "edge metrics dict: ", err)
    end
end

function M.origin_request(stream, kind)
    incr("o\t" .. stream .. "\t" .. kind)
end

function M.refusal(stream, reason)
    incr("f\t" .. stream .. "\t" .. reason)
end

-- "kind\tcache" strings, made once: the per-request count concatenates nothing.
local KIND_CACHE = setmetatable({}, {
    __index = function(t, kind)
        local by_cache = setmetatable({}, {
            __index = function(c, cache)
                local s = kind .. "\t" .. cache
                c[cache] = s
                return s
            end,
        })
        t[kind] = by_cache
        return by_cache
    end,
})

-- A viewer request the edge answered: `cache` is hit, miss, collapsed, pass or none.
function M.request(stream, kind, cache)
    local counts = pending[stream]
    if not counts then
        counts = {}
        pending[stream] = counts
    end
    local key = KIND_CACHE[kind][cache]
    counts[key] = (counts[key] or 0) + 1
end

local function session_hash(sid, client, user_agent)
    if sid and sid ~= "" then
        return crypto.sha256_hex16(ngx.unescape_uri(sid))
    end
    -- streamops.contract.playback_token.session_id, then session_hash of it.
    return crypto.sha256_hex16(crypto.hex(crypto.sha256(client .. "\n" .. (user_agent or ""))))
end

-- What SESSIONS_PER_SOURCE counts per (streamops.media.ingest.viewers.viewer_source): an IPv4
-- address, an IPv6 address's /64, an IPv4-mapped one's IPv4 address.
local function source_of(address)
    if not address:find(":", 1, true) then
        return address
    end
    local mapped = address:match("^::[fF][fF][fF][fF]:(%d+%.%d+%.%d+%.%d+)$")
    if mapped then
        return mapped
    end
    local head, tail = address:match("^(.-)::(.*)$")
    local groups = {}
    for g in (head or address):gmatch("[^:]+") do
        groups[#groups + 1] = g
    end
    if head then
        local after = {}
        for g in tail:gmatch("[^:]+") do
            after[#after + 1] = g
        end
        for _ = 1, 8 - #groups - #after do
            groups[#groups + 1] = "0"
        end
        for _, g in ipairs(after) do
            groups[#groups + 1] = g
        end
    end
    local prefix = {}
    for i = 1, 4 do
        prefix[i] = ("%x"):format(tonumber(groups[i] or "0", 16) or 0)
    end
    return table.concat(prefix, ":") .. "::/64"
end

-- The slot key (`slots` .. n) that holds session `hash` now, found or taken, or false: the slots
-- tried are other sessions' (the address has its share).
local function admit(slots, hash, ttl)
    local first = tonumber(hash:sub(1, 6), 16)
    for i = 0, SLOT_TRIES - 1 do
        local key = slots .. ((first + i) % SESSIONS_PER_SOURCE)
        local held = viewers:get(key)
        if held == hash then
            viewers:set(key, hash, ttl)
            return key
        elseif held == nil and (viewers:add(key, hash, ttl) or viewers:get(key) == hash) then
            return key
        end
    end
    return false
end

-- A successful media request of a session (`sid`: the _sid argument, or nil: then `client` and
-- `user_agent`, which are functions, identify it; `client` also picks its slots).
function M.viewer(name, protocol, sid, client, user_agent)
    local by_protocol = seen[name]
    if not by_protocol then
        by_protocol = {}
        seen[name] = by_protocol
    end
    local sessions = by_protocol[protocol]
    if not sessions then
        sessions = {}
        by_protocol[protocol] = sessions
    end
    local id, c, ua = sid, nil, nil
    if not id or id == "" then
        c, ua = client(), user_agent()
        id = "\0" .. c .. "\n" .. (ua or "")
    end
    local t = now()
    local entry = sessions[id] -- {when this worker wrote it, hash, its slot key or false}
    if entry then
        if t - entry[1] < refresh then
            return
        end
        entry[1] = t
    else
        entry = { t, session_hash(sid, c, ua), false }
        sessions[id] = entry
    end
    local hash, slot, ttl = entry[2], entry[3], window + refresh
    if slot and viewers:get(slot) == hash then
        viewers:set(slot, hash, ttl)
    else -- new here, not counted yet, or its slot lapsed
        entry[3] = admit(name .. "\t" .. protocol .. "\t" .. source_of(c or client()) .. "\t", hash, ttl)
    end
end

-- The worker's timer: its counts into the shared dict, its old session stamps dropped.
local function flush(premature)
    local counts = pending
    pending = {}
    for stream, by_key in pairs(counts) do
        for key, n in pairs(by_key) do
            incr("r\t" .. stream .. "\t" .. key, n)
        end
    end
    local t = now()
    metrics:set(FLUSHED .. ngx.worker.id(), t)
    if t - swept_at >= refresh and not premature then
        swept_at = t
        for _, by_protocol in pairs(seen) do
            for _, sessions in pairs(by_protocol) do
                for id, entry in pairs(sessions) do
                    if t - entry[1] >= window then
                        sessions[id] = nil
                    end
                end
            end
        end
    end
end

-- init_worker_by_lua.
function M.init_worker()
    local ok, err = ngx.timer.every(FLUSH_SECONDS, flush)
    if not ok then
        ngx.log(ngx.CRIT, "edge stats timer: ", err)
    end
end

-- Until every worker flushed after `since` (at most SCRAPE_WAIT_SECONDS).
local function wait_for_flushes(since)
    local deadline = since + SCRAPE_WAIT_SECONDS
    for id = 0, ngx.worker.count() - 1 do
        while (metrics:get(FLUSHED .. id) or 0) <= since and now() < deadline do
            ngx.sleep(FLUSH_SECONDS / 4)
        end
    end
end

-- {"<ns>/<name>" = {hls = {hash...}, llhls = {...}, dash = {...}}}: a session that made any LL-HLS
-- request in the window is an llhls viewer only.
local function sessions()
    local by_stream = {}
    for _, key in ipairs(viewers:get_keys(0)) do
        local name, protocol = key:match("^([^\t]+)\t([^\t]+)\t")
        local session = name and viewers:get(key)
        if session then
            local s = by_stream[name]
            if not s then
                s = { hls = {}, llhls = {}, dash = {} }
                by_stream[name] = s
            end
            s[protocol][session] = true
        end
    end
    local out = {}
    for name, s in pairs(by_stream) do
        local lists = {}
        for _, protocol in ipairs(PROTOCOLS) do
            local list = {}
            for session in pairs(s[protocol]) do
                if protocol ~= "hls" or not s.llhls[session] then
                    list[#list + 1] = session
                end
            end
            table.sort(list)
            lists[protocol] = list
        end
        out[namespace .. "/" .. name] = lists
    end
    return out
end

local function sorted_keys(t)
    local keys = {}
    for k in pairs(t) do
        keys[#keys + 1] = k
    end
    table.sort(keys)
    return keys
end

-- Names, hashes and protocols are [A-Za-z0-9._/-]: no JSON escaping needed.
function M.viewers_json()
    local all = sessions()
    local parts = {}
    for _, stream in ipairs(sorted_keys(all)) do
        local protocols = {}
        for _, protocol in ipairs(PROTOCOLS) do
            local list = all[stream][protocol]
            local quoted = {}
            for i = 1, math.min(#list, MAX_SESSIONS) do
                quoted[i] = '"' .. list[i] .. '"'
            end
            protocols[#protocols + 1] = '"' .. protocol .. '": [' .. table.concat(quoted, ", ") .. "]"
        end
        parts[#parts + 1] = '"' .. stream .. '": {' .. table.concat(protocols, ", ") .. "}"
    end
    return '{"windowSeconds": ' .. window .. ', "streams": {' .. table.concat(parts, ", ") .. "}}\n"
end

-- Names, types, help and labels: streamops.contract.metrics.EDGE_METRICS (a unit test compares them).
local VIEWERS_HELP = "viewer sessions seen in the last window at this edge replica, by protocol"
local FAMILIES = {
    { "r", "streamops_edge_requests_total", "counter",
      "viewer requests the edge answered, by kind and how (hit, miss, collapsed, pass, none)",
      { "stream", "kind", "cache" } },
    { "o", "streamops_edge_origin_requests_total", "counter",
      "requests the edge sent to the stream's ingest, by kind", { "stream", "kind" } },
    { "f", "streamops_playback_refusals_total", "counter",
      "playback requests refused by the edge, by reason", { "stream", "reason" } },
}

function M.metrics_text()
    ngx.update_time()
    wait_for_flushes(now())
    local samples = { r = {}, o = {}, f = {} }
    for _, key in ipairs(metrics:get_keys(0)) do
        local family = key:sub(1, 1)
        if samples[family] then
            samples[family][#samples[family] + 1] = key
        end
    end
    local out = {}
    for _, f in ipairs(FAMILIES) do
        local prefix, name, typ, help, labels = f[1], f[2], f[3], f[4], f[5]
        out[#out + 1] = "# HELP " .. name .. " " .. help
        out[#out + 1] = "# TYPE " .. name .. " " .. typ
        local keys = samples[prefix]
        table.sort(keys)
        for _, key in ipairs(keys) do
            local values, i = {}, 0
            for v in key:sub(3):gmatch("[^\t]+") do
                i = i + 1
                values[#values + 1] = labels[i] .. '="' .. v .. '"'
            end
            out[#out + 1] = ("%s{namespace=\"%s\",%s} %d"):format(
                name, namespace, table.concat(values, ","), metrics:get(key) or 0)
        end
    end
    out[#out + 1] = "# HELP streamops_viewers " .. VIEWERS_HELP
    out[#out + 1] = "# TYPE streamops_viewers gauge"
    local all = sessions()
    for _, stream in ipairs(sorted_keys(all)) do
        local name = stream:sub(#namespace + 2)
        for _, protocol in ipairs(PROTOCOLS) do
            out[#out + 1] = ('streamops_viewers{namespace="%s",stream="%s",protocol="%s"} %d'):format(
                namespace, name, protocol, #all[stream][protocol])
        end
    end
    return table.concat(out, "\n") .. "\n"
end

return M
