-- SHA-256 and HMAC-SHA256 through LuaJIT's FFI into the libcrypto nginx itself links (Debian's
-- nginx: libssl3), base64url without padding, hex: what tokens and viewer sessions need.
local ffi = require "ffi"
local ffi_new, ffi_string = ffi.new, ffi.string
local encode_base64 = ngx.encode_base64

ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len, const unsigned char *d, size_t n,
                    unsigned char *md, unsigned int *md_len);
unsigned char *SHA256(const unsigned char *d, size_t n, unsigned char *md);
]]

-- nginx's own symbols first (no second copy of the library); a plain path for builds without SSL.
local crypto = ffi.C
if not pcall(function() return crypto.EVP_sha256 end) then
    crypto = ffi.load("libcrypto.so.3")
end

local sha256_md = crypto.EVP_sha256()
-- One output buffer per worker: Lua runs one request at a time per worker, and nothing yields
-- between a call and the copy out of it.
local digest = ffi_new("unsigned char[32]")
local digest_len = ffi_new("unsigned int[1]")

local M = {}

function M.sha256(data)
    crypto.SHA256(data, #data, digest)
    return ffi_string(digest, 32)
end

function M.hmac_sha256(key, data)
    crypto.HMAC(sha256_md, key, #key, data, #data, digest, digest_len)
    return ffi_string(digest, digest_len[0])
end

function M.b64url(data)
    return (encode_base64(data, true):gsub("[+/]", { ["+"] = "-", ["/"] = "_" }))
end

local HEX8 = string.rep("%02x", 8)
local HEX32 = string.rep("%02x", 32)

function M.hex(data)
    if #data == 32 then
        return HEX32:format(data:byte(1, 32))
    end
    return (data:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

-- The first 16 hex characters of SHA-256: what leaves the edge for a viewer session.
function M.sha256_hex16(data)
    return HEX8:format(M.sha256(data):byte(1, 8))
end

-- Equal strings of equal length, in time independent of where they differ.
function M.constant_time_equal(a, b)
    if #a ~= #b then
        return false
    end
    local bxor, byte = bit.bxor, string.byte
    local diff = 0
    for i = 1, #a do
        diff = bit.bor(diff, bxor(byte(a, i), byte(b, i)))
    end
    return diff == 0
end

return M
