-- Where each LL-HLS playlist's live edge is, as far as the edge has seen, and what a blocking
-- request (_HLS_msn/_HLS_part) may therefore ask for: every value a viewer can type would otherwise
-- be a cache key and an origin request of its own (issue 37, finding 6).
--   learn(): from every playlist answer the edge fetched (shared dict: all workers know it);
--   judge(): "ok", "now" (already listed: served as the request for the newest listed part, one
--   key for all of them; the spec lets a server answer with a later playlist; newest() names the
--   key an answer stands for), "ahead" (too far in
--   the future: 400, RFC 8216bis 6.2.5.2) or "unknown" (the caller learns the playlist first).
-- docs/design/playback.md, "The edge".
local live = ngx.shared.edge_live
local re_match, find, sub = ngx.re.match, string.find, string.sub
local ceil = math.ceil

local M = {}

-- Long enough to span a quiet moment between viewers' reloads, short enough that a restarted
-- ingest's numbering replaces an old one soon (it is learnt again from its first playlist).
local KEEP_SECONDS = 30

-- One playlist's facts: "<last msn> <its last part or -1> <parts a segment may have> <advance limit>".
local function facts(body)
    local seq = re_match(body, [[#EXT-X-MEDIA-SEQUENCE:(\d+)]], "jo")
    local part_inf = re_match(body, [[#EXT-X-PART-INF:PART-TARGET=([0-9.]+)]], "jo")
    local target = re_match(body, [[#EXT-X-TARGETDURATION:(\d+)]], "jo")
    if not (seq and part_inf and target) then
        return nil -- not LL-HLS: blocking arguments are meaningless here
    end
    local part_target = tonumber(part_inf[1])
    if not part_target or part_target <= 0 then
        return nil
    end
    local skipped = re_match(body, [[#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)]], "jo")
    local segments = skipped and tonumber(skipped[1]) or 0
    local most, current = 0, 0 -- parts a listed segment had at most; parts after the last one
    local init = 1
    while true do
        local s = find(body, "\n#EXT", init, true)
        if not s then
            break
        end
        if sub(body, s + 5, s + 10) == "-X-PAR" and sub(body, s + 11, s + 13) == "T:D" then
            current = current + 1 -- #EXT-X-PART:DURATION
        elseif sub(body, s + 5, s + 7) == "INF" then
            segments = segments + 1
            if current > most then
                most = current
            end
            current = 0
        end
        init = s + 5
    end
    local trailing = current
    local first = tonumber(seq[1])
    -- A segment has at most TARGETDURATION / PART-TARGET parts, give or take the last, shorter one.
    local per_segment = math.max(most, ceil(tonumber(target[1]) / part_target)) + 1
    -- RFC 8216bis: the Advance Part Limit is 3 / PART-TARGET below one second, else 3.
    local advance = part_target < 1 and ceil(3 / part_target) or 3
    if trailing > 0 then
        return ("%d %d %d %d"):format(first + segments, trailing - 1, per_segment, advance)
    end
    return ("%d -1 %d %d"):format(first + segments - 1, per_segment, advance)
end

-- `key`: the playlist (path without the token or arguments); `body`: an answer of the origin's.
function M.learn(key, body)
    local f = facts(body)
    if f then
        live:set(key, f, KEEP_SECONDS)
    end
end

local function newest_args(last, last_part)
    if last_part >= 0 then
        return ("_HLS_msn=%d&_HLS_part=%d"):format(last, last_part)
    end
    return ("_HLS_msn=%d"):format(last)
end

-- The blocking arguments that stand for every part playlist `body` lists (its newest), or nil.
function M.newest(body)
    local f = facts(body)
    if not f then
        return nil
    end
    local last, last_part = f:match("^(%d+) (%-?%d+) ")
    return newest_args(tonumber(last), tonumber(last_part))
end

-- The verdict on a blocking request for (msn, part) (part nil: a whole segment) of playlist `key`,
-- and for "now" the arguments that stand for it ("_HLS_msn=..[&_HLS_part=..]").
function M.judge(key, msn, part)
    local f = live:get(key)
    if not f then
        return "unknown"
    end
    local last, last_part, per_segment, advance = f:match("^(%d+) (%-?%d+) (%d+) (%d+)$")
    last, last_part = tonumber(last), tonumber(last_part)
    per_segment, advance = tonumber(per_segment), tonumber(advance)
    if part and part >= per_segment then
        return "ahead"
    end
    local complete = last_part < 0 and last or last - 1 -- the last segment whose parts are all listed
    -- Already listed: the origin answers at once, with its newest playlist; so the request for the
    -- newest listed part stands for all of them.
    if msn <= complete or (part and msn == last and part <= last_part) then
        return "now", newest_args(last, last_part)
    end
    -- RFC 8216bis 6.2.5.2: more than two segments past the last listed one, or a part more than
    -- the Advance Part Limit past the last listed part, is a Bad Request.
    if msn > complete + 2 then
        return "ahead"
    end
    if part and (msn - last) * (per_segment - 1) + part - last_part > advance then
        return "ahead"
    end
    return "ok"
end

return M
