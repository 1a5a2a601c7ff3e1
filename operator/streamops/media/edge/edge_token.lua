-- Signed playback tokens, verified as streamops/contract/playback_token.py does (its Lua twin):
--   v1~<kid>~<exp>~<ip>~<sig>   sig = b64url(HMAC-SHA256(key, "v1~<kid>~<exp>~<ip>~<ns>/<name>"))
-- Keys are the files `current` and `previous` of a directory (a mounted Secret), cached per worker.
local crypto = require "edge_crypto"

local re_match = ngx.re.match
local now = ngx.now

local M = {}

-- Status and body of each refusal: docs/design/playback.md, "Answers" (never the token).
M.REFUSALS = {
    missing = { 401, "playback of this stream needs a signed URL (streamops playback url)" },
    invalid = { 403, "playback token is not valid for this stream" },
    expired = { 403, "playback token expired" },
    unknown_key = { 403, "playback token was signed with a key this stream no longer accepts" },
    other_viewer = { 403, "playback token is restricted to another viewer address" },
}

local TOKEN = [[^v1~([A-Za-z0-9_-]{8})~([0-9]{1,12})~([0-9A-Fa-f.:]{0,45})~([A-Za-z0-9_-]{43})$]]
local CLOCK_SKEW_SECONDS = 5
-- Kubelet swaps a mounted Secret's files within about a minute of a rotation; reading two 32-byte
-- files once a second per worker (a few µs) notices it without stat()'s per-architecture FFI
-- layout, and also when a swap keeps the mtime.
local KEYS_CHECK_SECONDS = 1

local keys_dir
local keys_by_kid = {}
local keys_seen -- the files' content at the last check
local checked_at = -math.huge
-- token -> {stream, reason or false, ip, until}: a viewer sends the same token with every request
-- (about 10 a second for LL-HLS): verified once per worker, then looked up (the regex and the HMAC
-- were 8 µs of a cached part's 44, bench/edge_token.py). Emptied when the keys change; an accepted
-- token is kept until it expires, a refused one a minute.
local verdicts, verdict_count = {}, 0
local MAX_VERDICTS = 20000
local REFUSED_SECONDS = 60

function M.configure(dir)
    keys_dir = dir
end

local function read_file(path)
    local f = io.open(path, "rb")
    if not f then
        return nil
    end
    local data = f:read("*a")
    f:close()
    if data == nil or data == "" then
        return nil
    end
    return data
end

function M.key_id(key)
    return crypto.b64url(crypto.sha256(key)):sub(1, 8)
end

-- {kid = key} of `current` and `previous`, re-read at most once a second.
function M.keys()
    local t = now()
    if t - checked_at < KEYS_CHECK_SECONDS then
        return keys_by_kid
    end
    checked_at = t
    local current, previous = read_file(keys_dir .. "/current"), read_file(keys_dir .. "/previous")
    local seen = (current or "") .. "\0" .. (previous or "")
    if seen ~= keys_seen then
        keys_seen = seen
        local keys = {}
        for _, key in ipairs({ current, previous }) do
            if key then
                keys[M.key_id(key)] = key
            end
        end
        keys_by_kid = keys
        verdicts, verdict_count = {}, 0
    end
    return keys_by_kid
end

-- reason or false, the token's ip restriction, until when that holds.
local function check(token, stream)
    local m = re_match(token, TOKEN, "jo")
    if not m then
        return "invalid", "", now() + REFUSED_SECONDS
    end
    local kid, expires, ip, signature = m[1], tonumber(m[2]), m[3], m[4]
    local key = keys_by_kid[kid]
    if not key then
        return "unknown_key", "", now() + REFUSED_SECONDS
    end
    local signed = "v1~" .. kid .. "~" .. ("%d"):format(expires) .. "~" .. ip .. "~" .. stream
    if not crypto.constant_time_equal(crypto.b64url(crypto.hmac_sha256(key, signed)), signature) then
        return "invalid", "", now() + REFUSED_SECONDS
    end
    if now() >= expires + CLOCK_SKEW_SECONDS then
        return "expired", "", now() + REFUSED_SECONDS
    end
    return false, ip, expires + CLOCK_SKEW_SECONDS
end

-- The ingest refused `token` (its answer's `body`) although this worker accepted it: keys one
-- side has not read yet, an expiry at the second, an address the ingest sees otherwise. This
-- worker refuses it too for REFUSED_SECONDS (the ingest's reason), so that it leads no more origin
-- requests: each could be the one other viewers' requests wait on (edge_store.lua asks again then).
function M.refused_upstream(token, stream, body)
    local reason = "invalid"
    for name, refusal in pairs(M.REFUSALS) do
        if body == refusal[2] .. "\n" then
            reason = name
        end
    end
    if not verdicts[token] then
        if verdict_count >= MAX_VERDICTS then
            verdicts, verdict_count = {}, 0
        end
        verdict_count = verdict_count + 1
    end
    verdicts[token] = { stream, reason, "", now() + REFUSED_SECONDS }
end

-- nil when `token` lets the viewer watch `stream` ("<ns>/<name>") now, else the refusal's reason
-- (missing, invalid, expired, unknown_key, other_viewer). Same order of checks as the Python.
-- `client` is a function returning the viewer's address, called only for a restricted token.
function M.verify(token, stream, client)
    if token == nil or token == "" then
        return "missing"
    end
    M.keys()
    local v = verdicts[token]
    if not v or v[1] ~= stream or now() >= v[4] then
        local reason, ip, till = check(token, stream)
        if not v then
            if verdict_count >= MAX_VERDICTS then
                verdicts, verdict_count = {}, 0
            end
            verdict_count = verdict_count + 1
        end
        v = { stream, reason, ip, till }
        verdicts[token] = v
    end
    if v[2] then
        return v[2]
    end
    if v[3] ~= "" and v[3] ~= client() then
        return "other_viewer"
    end
    return nil
end

return M
