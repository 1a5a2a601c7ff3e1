-- Videos on the namespace's recordings claims, served to signed links only (the Lua twin of
-- streamops/contract/video_link.py; docs/design/claim-videos.md):
--   GET|HEAD /videos/<claim>/t/<token>/<path>   token: the playback tokens' scheme and keys
--   (edge_token.lua) over the scope "<namespace>/video:<claim>/<path>".
-- The path is the raw request path, never percent-decoded: `%2F`, `%2e%2e` and backslashes do not
-- match, nor does a `.`/`..` segment or a hidden name. The file itself goes out through the internal
-- location /_edge_videos/ (nginx.conf.template): nginx's static module answers Range and HEAD, and
-- `disable_symlinks on` refuses a symlink anywhere in the path.
local answer = require "edge_answer"
local token = require "edge_token"

local M = {}

-- Same text as video_link.py's SIGNED_PATH (a test compares them), `\z` for `$`: PCRE's `$` also
-- matches before a final newline.
local CLAIM = [[[a-z0-9](?:[-a-z0-9]{0,251}[a-z0-9])?]]
local SEGMENT = [[[A-Za-z0-9_][A-Za-z0-9._-]{0,254}]]
local VIDEO_PATH = "(?:" .. SEGMENT .. "/){0,16}" .. SEGMENT .. [[\.(?:mp4|html|json)]]
M.SIGNED_PATH = "^/videos/(" .. CLAIM .. ")/t/([^/]{1,200})/(" .. VIDEO_PATH .. ")\\z"
local MAX_PATH = 1024
local SCOPE_MARK = "video:"

local namespace

local refuse = answer.refuse
local client_address = answer.client_address

function M.handle()
    if not namespace then
        namespace = assert(os.getenv("STREAMOPS_EDGE_NAMESPACE"), "STREAMOPS_EDGE_NAMESPACE is not set")
    end
    local method = ngx.req.get_method()
    if method ~= "GET" and method ~= "HEAD" then
        ngx.header["Allow"] = "GET, HEAD"
        return refuse(405, "method not allowed")
    end
    local raw = ngx.var.request_uri:match("^[^?]*")
    local m = ngx.re.match(raw, M.SIGNED_PATH, "jo")
    if not m or #m[3] > MAX_PATH then
        if raw:find("/t/", 1, true) then
            return refuse(404, "not found")
        end
        -- No token segment: what an unsigned link (status.videos[].downloadUrl) asks.
        return refuse(401, "a recorded video needs a signed URL (streamops video url)")
    end
    local claim, tok, path = m[1], m[2], m[3]
    local reason = token.verify(tok, namespace .. "/" .. SCOPE_MARK .. claim .. "/" .. path, client_address)
    if reason then
        local refusal = token.REFUSALS[reason]
        local body = refusal[2]:gsub("playback token", "video token"):gsub("this stream", "this video")
        return refuse(refusal[1], body)
    end
    return ngx.exec("/_edge_videos/" .. claim .. "/" .. path)
end

return M
