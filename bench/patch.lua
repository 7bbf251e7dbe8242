-- wrk script for the floor of figure #3: the emulator's own PATCH
-- throughput. PATCH /api/admin/configuration/v1/conference/<id>/ with Basic
-- auth, cycling over rooms first..first+count-1. Arguments (after "--"):
-- first id, count, tag URL. done() prints one machine-readable line.
local first, count, n, body = 1, 1, 0, ""
local headers = {
	["Authorization"] = "Basic YWRtaW46YWRtaW4=",   -- admin:admin, the emulator's default
	["Content-Type"] = "application/json",
}

function init(args)
	first = tonumber(args[1]) or 1
	count = tonumber(args[2]) or 1
	body = string.format('{"tag": "%s"}', args[3] or "")
end

function request()
	local id = first + (n % count)
	n = n + 1
	return wrk.format("PATCH", "/api/admin/configuration/v1/conference/" .. id .. "/", headers, body)
end

done = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "wrkresult.lua")
