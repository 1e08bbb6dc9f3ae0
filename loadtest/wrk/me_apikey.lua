-- GET /auth/me with an API key (LT_API_KEY) in X-API-Key.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")
wrk.headers["X-API-Key"] = assert(os.getenv("LT_API_KEY"), "LT_API_KEY is not set")
