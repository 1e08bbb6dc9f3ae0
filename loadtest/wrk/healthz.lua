-- GET /healthz: the floor every authenticated route is compared with.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")
