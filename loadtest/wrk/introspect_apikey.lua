-- POST /auth/introspect as a resource server calls it: its own API key
-- (LT_API_KEY, which holds tokens:introspect) asks about a user's access
-- token (LT_TOKEN), as an RFC 7662 form.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")
local token = assert(os.getenv("LT_TOKEN"), "LT_TOKEN is not set")
wrk.method = "POST"
wrk.body = "token=" .. token -- base64url and dots: nothing to escape
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["X-API-Key"] = assert(os.getenv("LT_API_KEY"), "LT_API_KEY is not set")
