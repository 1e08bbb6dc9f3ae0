-- GET /auth/forward with an access token (LT_TOKEN) and no requirements:
-- what a gateway asks before every request it lets through. The same
-- check as /auth/me, answered in X-Relay-* headers instead of a body.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")
wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("LT_TOKEN"), "LT_TOKEN is not set")
