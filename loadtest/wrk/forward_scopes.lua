-- GET /auth/forward?scopes=... (the URL carries it) as nginx auth_request
-- asks it: the original request in X-Original-URI, an access token
-- (LT_TOKEN) whose holder has the scope.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")
wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("LT_TOKEN"), "LT_TOKEN is not set")
wrk.headers["X-Original-URI"] = "/orders/42?expand=items"
