-- A PlaybackPolicy's rules at the edge (docs/design/playback-rules.md): the same decision as the
-- ingest's media/ingest/playback_rules.py, in the same order (address, country, referrer, user
-- agent), checked before the token and before the cache, so a refused viewer is never served a
-- cached object. A stream has rules when its file `<name>.rules` is in the rules directory (the
-- edge's ConfigMap, beside the routes file: kubelet swaps the whole directory at once), written by
-- the operator (streamops.media.edge.rules_file) one rule a line:
--   deny-cidr <cidr> | allow-cidr <cidr> | allow-country <CC> | deny-country <CC> |
--   allow-referrer <host or *.host> | no-referrer allow|deny | allow-user-agent <pattern>
-- Read again when its content changes (looked at once a second per stream and worker). Countries
-- come from a MaxMind-format database (STREAMOPS_EDGE_GEOIP_FILE) through libmaxminddb and LuaJIT's
-- FFI, one lookup per address and worker (cached); no database while rules name countries, or a
-- rules file that cannot be parsed: every request of the stream is refused (503), as at the ingest.
local ffi = require "ffi"
local lrucache = require "resty.lrucache"

local bit = require "bit"
local band, lshift = bit.band, bit.lshift
local re_find = ngx.re.find
local find, sub, lower, byte = string.find, string.sub, string.lower, string.byte

local M = {}

-- The reasons (X-Streamops-Refused, the metric's label): contract.metrics.RULE_REFUSAL_REASONS.
M.REASONS = {
    "address", "country", "referrer", "user_agent", "geoip_unavailable", "rules_unavailable",
}
local ANSWERS = {
    address = { 403, "playback of this stream is not allowed from your network address" },
    country = { 403, "playback of this stream is not allowed in your country" },
    referrer = { 403, "playback of this stream is not allowed on this site" },
    user_agent = { 403, "playback of this stream is not allowed in this player" },
    geoip_unavailable = { 503, "playback of this stream is unavailable: this server has no GeoIP database for its rules" },
    rules_unavailable = { 503, "playback of this stream is unavailable: this server cannot read its playback rules" },
}
M.ANSWERS = ANSWERS

local CHECK_SECONDS = 1
local rules_dir
local streams = {} -- name -> {checked_at, text, rules (false: none, "bad": unusable)}

ffi.cdef [[
int inet_pton(int af, const char *src, void *dst);
typedef struct { uint64_t opaque[512]; } streamops_mmdb_s;
typedef struct { const void *mmdb; uint32_t offset; } MMDB_entry_s;
typedef struct { bool found_entry; MMDB_entry_s entry; uint16_t netmask; } MMDB_lookup_result_s;
typedef struct {
    bool has_data;
    union { const char *utf8_string; uint8_t raw[16]; } value __attribute__((aligned(16)));
    uint32_t offset;
    uint32_t offset_to_next;
    uint32_t data_size;
    uint32_t type;
} MMDB_entry_data_s;
int MMDB_open(const char *filename, uint32_t flags, streamops_mmdb_s *mmdb);
MMDB_lookup_result_s MMDB_lookup_string(const streamops_mmdb_s *mmdb, const char *ipstr, int *gai_error,
                                        int *mmdb_error);
int MMDB_aget_value(MMDB_entry_s *start, MMDB_entry_data_s *entry_data, const char *const *path);
void MMDB_close(streamops_mmdb_s *mmdb);
]]

local AF_INET, AF_INET6 = 2, 10 -- Linux's
local pton_buf = ffi.new("uint8_t[16]")
local MAPPED = "\0\0\0\0\0\0\0\0\0\0\255\255"

-- An address as 4 or 16 bytes (an IPv4-mapped IPv6 address as its IPv4), nil if it is none.
local function address_bytes(text, keep_mapped)
    if find(text, ":", 1, true) then
        if ffi.C.inet_pton(AF_INET6, text, pton_buf) ~= 1 then
            return nil
        end
        local s = ffi.string(pton_buf, 16)
        if not keep_mapped and sub(s, 1, 12) == MAPPED then
            return sub(s, 13)
        end
        return s
    elseif ffi.C.inet_pton(AF_INET, text, pton_buf) == 1 then
        return ffi.string(pton_buf, 4)
    end
    return nil
end

local function network(cidr)
    local addr, bits = cidr:match("^([%x:.]+)/(%d+)$")
    local bytes = addr and address_bytes(addr, true)
    bits = tonumber(bits)
    if not bytes or bits > #bytes * 8 then
        return nil
    end
    return { bytes = bytes, full = math.floor(bits / 8), mask = band(lshift(0xff, 8 - bits % 8), 0xff), rem = bits % 8 }
end

local function contains(net, addr)
    local bytes = net.bytes
    if #addr ~= #bytes then
        return false
    end
    local full = net.full
    if full > 0 and sub(addr, 1, full) ~= sub(bytes, 1, full) then
        return false
    end
    if net.rem == 0 then
        return true
    end
    return band(byte(addr, full + 1), net.mask) == band(byte(bytes, full + 1), net.mask)
end

local function in_any(addr, nets)
    for i = 1, #nets do
        if contains(nets[i], addr) then
            return true
        end
    end
    return false
end

-- A glob (`*` any run, the rest literal) as an anchored, case-insensitive PCRE.
local function glob_regex(pattern)
    local parts = {}
    for piece in (pattern .. "*"):gmatch("([^*]*)%*") do
        parts[#parts + 1] = (piece:gsub("[^%w]", "\\%0"))
    end
    return "^(?:" .. table.concat(parts, ".*") .. ")$"
end

-- The rules of a file's text, or nil when a line is not one.
local function parse(text)
    local r = {
        denied = {}, allowed = {}, allowed_countries = nil, denied_countries = nil, hosts = {}, suffixes = {},
        check_referrer = false, allow_no_referrer = false, agents = nil,
    }
    for line in text:gmatch("[^\n]+") do
        local word, value = line:match("^(%S+) (.+)$")
        if line == "unavailable" then -- the stream names a policy that does not exist (RULES_UNAVAILABLE)
            r.unavailable = true
        elseif word == "deny-cidr" or word == "allow-cidr" then
            local net = network(value)
            if not net then
                return nil
            end
            local list = word == "deny-cidr" and r.denied or r.allowed
            list[#list + 1] = net
        elseif (word == "allow-country" or word == "deny-country") and value:find("^%u%u$") then
            local field = word == "allow-country" and "allowed_countries" or "denied_countries"
            r[field] = r[field] or {}
            r[field][value] = true
        elseif word == "allow-referrer" and value:find("^[%w.*-]+$") then
            r.check_referrer = true
            if sub(value, 1, 2) == "*." then
                r.suffixes[#r.suffixes + 1] = sub(value, 2)
            else
                r.hosts[value] = true
            end
        elseif word == "no-referrer" and (value == "allow" or value == "deny") then
            r.allow_no_referrer = value == "allow"
        elseif word == "allow-user-agent" then
            r.agents = r.agents or {}
            r.agents[#r.agents + 1] = glob_regex(value)
        else
            return nil
        end
    end
    r.needs_country = r.allowed_countries ~= nil or r.denied_countries ~= nil
    return r
end

-- The rules of stream `name` (false: it has none; "bad": its file cannot be used).
local function current(name)
    local s = streams[name]
    local t = ngx.now()
    if s and t - s.checked_at < CHECK_SECONDS then
        return s.rules
    end
    if not s then
        s = { text = false, rules = false }
        streams[name] = s
    end
    s.checked_at = t
    local f = io.open(rules_dir .. "/" .. name .. ".rules", "rb")
    local text = f and f:read("*a") or false
    if f then
        f:close()
    end
    if text ~= s.text then
        s.text = text
        if text == false then
            s.rules = false
        else
            s.rules = parse(text) or "bad"
            if s.rules == "bad" then
                ngx.log(ngx.CRIT, "playback rules of ", name, " cannot be parsed: its viewers are refused")
            end
        end
    end
    return s.rules
end

-- The GeoIP database: opened in each worker, again when its size or last 4 KiB (MaxMind's
-- metadata, with the build time, is at the end) change.
local geoip_file
local mmdb, mmdb_seen, mmdb_checked_at = nil, nil, -math.huge
local countries = lrucache.new(20000)
local library
-- The lookup path in C memory, kept alive by the module table: PATH made of Lua strings pointed at
-- strings the collector freed once the module's main chunk was gone (addresses then placed nowhere
-- after a few hundred requests).
M.PATH_STRINGS = { ffi.new("char[8]", "country"), ffi.new("char[9]", "iso_code") }
local PATH = ffi.new("const char *[3]", M.PATH_STRINGS)
local gai_error, mmdb_error = ffi.new("int[1]"), ffi.new("int[1]")
local entry_data = ffi.new("MMDB_entry_data_s")
local UTF8_STRING = 2
-- The layout declared above is libmaxminddb 1.x's on LP64 with a 128-bit integer type (amd64,
-- arm64): checked once, else country rules fail closed rather than read the wrong bytes.
local LAYOUT_OK = ffi.sizeof("MMDB_entry_data_s") == 48 and ffi.offsetof("MMDB_entry_data_s", "data_size") == 40
    and ffi.sizeof("MMDB_lookup_result_s") == 32

local function load_library()
    return library or ffi.load("libmaxminddb.so.0") -- the runtime package has no unversioned name
end

local function signature(path)
    local f = io.open(path, "rb")
    if not f then
        return nil
    end
    local size = f:seek("end")
    f:seek("set", math.max(0, size - 4096))
    local tail = f:read(4096) or ""
    f:close()
    return size .. ":" .. tail
end

local function database()
    local t = ngx.now()
    if not geoip_file or t - mmdb_checked_at < CHECK_SECONDS then
        return mmdb
    end
    mmdb_checked_at = t
    local seen = signature(geoip_file)
    if seen == mmdb_seen then
        return mmdb
    end
    mmdb_seen = seen
    countries:flush_all()
    local old = mmdb
    mmdb = nil
    if seen and LAYOUT_OK then
        local ok, lib = pcall(load_library)
        if ok then
            library = lib
            local db = ffi.new("streamops_mmdb_s")
            if library.MMDB_open(geoip_file, 1, db) == 0 then -- MMDB_MODE_MMAP
                mmdb = ffi.gc(db, library.MMDB_close)
            end
        end
    end
    if not mmdb then
        ngx.log(ngx.CRIT, "GeoIP database ", geoip_file, " cannot be used: rules naming countries refuse every viewer")
    end
    if old then
        ffi.gc(old, nil)
        library.MMDB_close(old)
    end
    return mmdb
end

-- The ISO code the database gives `address` ("" when none): once per address and worker.
local function lookup(db, address)
    local code = ""
    local result = library.MMDB_lookup_string(db, address, gai_error, mmdb_error)
    if gai_error[0] == 0 and mmdb_error[0] == 0 and result.found_entry then
        if library.MMDB_aget_value(result.entry, entry_data, PATH) == 0 and entry_data.has_data
            and entry_data.type == UTF8_STRING and entry_data.data_size <= 8 then
            code = ffi.string(entry_data.value.utf8_string, entry_data.data_size)
        end
    end
    countries:set(address, code)
    return code
end

local function country_of(db, address)
    return countries:get(address) or lookup(db, address)
end

local function host_of(value)
    if not value or value == "" then
        return nil
    end
    local authority = value:match("^%a[%w+.-]*://([^/?#]*)") or value
    authority = authority:gsub("^.*@", "")
    local host = authority:match("^%[([%x:.]+)%]") or authority:match("^([^:]*)")
    if not host or host == "" then
        return nil
    end
    return (lower(host):gsub("%.$", ""))
end

local function referrer_refused(r, var)
    local page = var.http_origin
    if not page or page == "" then
        page = var.http_referer
    end
    if not page or page == "" then
        return not r.allow_no_referrer
    end
    local host = page ~= "null" and host_of(page)
    if not host then
        return true
    end
    if host == host_of(var.host) or r.hosts[host] then
        return false
    end
    for i = 1, #r.suffixes do
        local suffix = r.suffixes[i]
        if #host > #suffix and sub(host, -#suffix) == suffix then
            return false
        end
    end
    return true
end

function M.configure(dir, geoip)
    rules_dir = dir
    geoip_file = geoip ~= "" and geoip or nil
end

-- nil when stream `name`'s rules (if any) let this request through, else the reason.
function M.check(name, address)
    local r = current(name)
    if not r then
        return nil
    elseif r == "bad" or r.unavailable then
        return "rules_unavailable"
    end
    local var = ngx.var
    if #r.denied > 0 or #r.allowed > 0 then
        local addr = address_bytes(address)
        if not addr or in_any(addr, r.denied) or (#r.allowed > 0 and not in_any(addr, r.allowed)) then
            return "address"
        end
    end
    if r.needs_country then
        local db = database()
        if not db then
            return "geoip_unavailable"
        end
        local code = country_of(db, address)
        if (r.allowed_countries and not r.allowed_countries[code]) or (r.denied_countries and r.denied_countries[code]) then
            return "country"
        end
    end
    if r.check_referrer and referrer_refused(r, var) then
        return "referrer"
    end
    local agents = r.agents
    if agents then
        local ua = var.http_user_agent or ""
        for i = 1, #agents do
            if re_find(ua, agents[i], "joi") then
                return nil
            end
        end
        return "user_agent"
    end
    return nil
end

return M
