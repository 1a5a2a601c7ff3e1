-- The edge's own answers, one shape for its two gates (edge.lua's streams, edge_videos.lua's videos).
local M = {}

-- A refusal or an error of the edge: never stored by the edge or a shared cache in front of it
-- (contract/cache_policy.py: refusals and 404s), readable by a player page on another origin.
function M.refuse(status, body)
    ngx.status = status
    ngx.header["Content-Type"] = "text/plain; charset=utf-8"
    ngx.header["Cache-Control"] = "no-store"
    ngx.header["Surrogate-Control"] = "no-store"
    ngx.header["Access-Control-Allow-Origin"] = "*"
    ngx.header["Access-Control-Expose-Headers"] = "Content-Length, Content-Range, Content-Type, Accept-Ranges, Date, Age, X-Streamops-Refused"
    ngx.print(body .. "\n")
end

-- The client address a token's ip restriction is checked against (playback_token.client_address):
-- nginx's realip module has put it in $remote_addr, believing X-Forwarded-For from trusted proxies
-- only (STREAMOPS_EDGE_TRUSTED_PROXIES); whatever else a client writes there is its own claim.
function M.client_address()
    return ngx.var.remote_addr
end

return M
