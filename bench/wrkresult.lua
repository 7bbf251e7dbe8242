-- The done() of the wrk scripts (create.lua, patch.lua): one machine-readable
-- line that pexbench parses (run_wrk in bench/latency.c):
--   WRKRESULT <requests> <duration in us> <non-2xx/3xx answers> <socket errors>
-- Loaded with dofile() from the script's own directory.
return function(summary, latency, requests)
	io.write(string.format("WRKRESULT %d %d %d %d\n", summary.requests, summary.duration,
		summary.errors.status, summary.errors.connect + summary.errors.read +
		summary.errors.write + summary.errors.timeout))
end
