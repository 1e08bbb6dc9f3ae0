-- POST /auth/introspect of the caller's own access token (LT_TOKEN, which
-- holds tokens:introspect), as an RFC 7662 form.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")
local token = assert(os.getenv("LT_TOKEN"), "LT_TOKEN is not set")
wrk.method = "POST"
wrk.body = "token=" .. token -- base64url and dots: nothing to escape
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Bearer " .. token
