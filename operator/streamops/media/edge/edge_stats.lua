-- What the edge counts, in shared dicts (all workers): viewer requests, origin requests, refusals
-- (counters), viewer sessions (one key per stream/protocol/session that expires after the window);
-- and the status port's answers, /viewers (JSON, docs/design/playback.md) and /metrics
-- (Prometheus text). Labels are bounded: kinds and reasons are fixed sets, streams are capped.
local crypto = require "edge_crypto"

local metrics = ngx.shared.edge_metrics
local viewers = ngx.shared.edge_viewers
local streams = ngx.shared.edge_streams

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

local namespace = ""
local window = 30
local known_streams = {} -- this worker's names already admitted

function M.configure(ns, window_seconds)
    namespace = ns
    window = window_seconds
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

local function incr(key)
    local _, err = metrics:incr(key, 1, 0)
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

local function session_hash(client, user_agent, sid)
    if sid and sid ~= "" then
        return crypto.sha256_hex16(ngx.unescape_uri(sid))
    end
    -- streamops.contract.playback_token.session_id, then session_hash of it.
    return crypto.sha256_hex16(crypto.hex(crypto.sha256(client .. "\n" .. (user_agent or ""))))
end

local PROXIED_HIT = { HIT = true, STALE = true, UPDATING = true, REVALIDATED = true }

-- The log phase of every viewer request the router took (ngx.var.edge_stream set).
function M.log()
    local var = ngx.var
    local stream = var.edge_stream
    if stream == nil or stream == "" then
        return
    end
    local kind = var.edge_kind
    local cache = var.edge_cache
    if cache == "" then -- proxied (nginx's cache or passed through)
        local status = var.upstream_cache_status
        if status and PROXIED_HIT[status] then
            cache = "hit"
        elseif var.upstream_addr and var.upstream_addr ~= "" then
            cache = status and status ~= "" and "miss" or "pass"
            M.origin_request(stream, kind)
        else
            cache = "none"
        end
    end
    incr("r\t" .. stream .. "\t" .. kind .. "\t" .. cache)
    local protocol = var.edge_protocol
    local status = ngx.status
    if protocol ~= "" and status >= 200 and status < 300 then
        local session = session_hash(var.edge_client, var.http_user_agent, var.arg__sid)
        viewers:set(var.edge_stream_name .. "\t" .. protocol .. "\t" .. session, true, window)
    end
end

-- {"<ns>/<name>" = {hls = {hash...}, llhls = {...}, dash = {...}}}: a session that made any LL-HLS
-- request in the window is an llhls viewer only.
local function sessions()
    local by_stream = {}
    for _, key in ipairs(viewers:get_keys(0)) do
        local name, protocol, session = key:match("^([^\t]+)\t([^\t]+)\t([^\t]+)$")
        if name then
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

local FAMILIES = {
    { "r", "streamops_edge_requests_total", "counter",
      "Viewer requests the edge answered, by kind and how (hit, miss, collapsed, pass, none).",
      { "stream", "kind", "cache" } },
    { "o", "streamops_edge_origin_requests_total", "counter",
      "Requests the edge sent to the stream's ingest, by kind.", { "stream", "kind" } },
    { "f", "streamops_playback_refusals_total", "counter",
      "Playback requests refused by the edge, by reason.", { "stream", "reason" } },
}

function M.metrics_text()
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
    out[#out + 1] = "# HELP streamops_viewers Viewer sessions seen in the last window, by protocol."
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
