-- wrk script for figure #3 (the subject): POST /room/create through the
-- room server, with the API key. Arguments (after "--"): API key, UUI hex.
-- done() prints one machine-readable line that pexbench parses.
local key, uui = "", ""

function init(args)
	key = args[1] or ""
	uui = args[2] or ""
end

function request()
	return wrk.format("POST", "/room/create?uuiData=" .. uui,
		{ ["X-API-Key"] = key, ["Content-Length"] = "0" }, nil)
end

done = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "wrkresult.lua")
