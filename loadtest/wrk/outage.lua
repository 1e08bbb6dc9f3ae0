-- GET /auth/me with LT_TOKEN while Redis is killed and restarted: counts
-- every status code across threads and prints
--   LOADTEST_CODES|200:n 503:n ...|socket errors
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) codes = {} end
function response(status, headers, body) codes[status] = (codes[status] or 0) + 1 end

wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("LT_TOKEN"), "LT_TOKEN is not set")

function done(summary, latency, requests)
  local total, keys = {}, {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("codes")) do
      if not total[status] then table.insert(keys, status) end
      total[status] = (total[status] or 0) + n
    end
  end
  table.sort(keys)
  local parts = {}
  for _, status in ipairs(keys) do table.insert(parts, status .. ":" .. total[status]) end
  local e = summary.errors
  io.write(string.format("LOADTEST_CODES|%s|%d\n", table.concat(parts, " "),
    e.connect + e.read + e.write + e.timeout))
end
