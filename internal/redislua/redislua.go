// Package redislua holds Lua shared by the Redis stores' scripts.
package redislua

// Cmp defines cmp(a, b), which compares two decimal integer strings
// (negative ones included) as numbers and returns -1, 0 or 1.
//
// Lua numbers are doubles, which cannot hold Unix nanoseconds exactly
// (2^53 ns is about 104 days), so the stores keep times as decimal strings
// and their scripts compare them with cmp and never do arithmetic on them.
const Cmp = `
local function cmp(a, b)
  local na, nb = string.sub(a, 1, 1) == '-', string.sub(b, 1, 1) == '-'
  if na ~= nb then
    if na then return -1 end
    return 1
  end
  local r
  if #a ~= #b then
    if #a < #b then r = -1 else r = 1 end
  elseif a == b then
    return 0
  elseif a < b then
    r = -1
  else
    r = 1
  end
  if na then r = -r end
  return r
end
`
