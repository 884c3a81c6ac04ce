"""Lua helpers every script of the package starts with.

All times in the scripts are Redis's own clock (``TIME``), never a worker's: workers on several machines
then agree on every lease expiry and on the budget's next allowed request whatever their clocks say.
Floats are handed to Redis as fixed-point strings (Lua's default formatting keeps only 14 digits).
"""

PRELUDE = """
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function fmt(x)
  return string.format('%.6f', x)
end
"""
