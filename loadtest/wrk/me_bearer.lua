-- GET /auth/me with an access token (LT_TOKEN): signature, claims and the
-- session check on every request.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")
wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("LT_TOKEN"), "LT_TOKEN is not set")
