-- Runs every spec/*_spec.lua with LuaUnit and ends with one line
-- "N passed, N failed"; the exit status is non-zero on any failure.
-- Run from spec/ (make test does); extra arguments go to LuaUnit
-- (e.g. `-p TestMatmul` to run a subset).
local lu = require "luaunit"

local function spec_files()
  local files = {}
  local p = io.popen("ls *_spec.lua 2>/dev/null")
  for f in p:lines() do files[#files + 1] = f end
  p:close()
  table.sort(files)
  return files
end

local load_errors = 0
for _, f in ipairs(spec_files()) do
  local ok, err = pcall(dofile, f)
  if not ok then
    load_errors = load_errors + 1
    io.stderr:write("error loading " .. f .. ": " .. tostring(err) .. "\n")
  end
end

local runner = lu.LuaUnit.new()
runner:setOutputType("text")
runner:runSuite(table.unpack(arg))
local r = runner.result
local failed = r.notSuccessCount + load_errors
local line = string.format("%d passed, %d failed", r.successCount, failed)
if r.skippedCount > 0 then line = line .. string.format(", %d skipped", r.skippedCount) end
print(line)
os.exit(failed == 0 and 0 or 1)
