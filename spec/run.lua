-- Runs the core's own C test (when LUNET_CORE_TEST names it, as make
-- test does), then every spec/*_spec.lua with LuaUnit, and ends with one
-- line "N passed, N failed" that counts both; the exit status is non-zero
-- on any failure.  Run from spec/ (make test does); extra arguments go to
-- LuaUnit (e.g. `-p TestMatmul` to run a subset).
local lu = require "luaunit"

-- the C test prints its checks and ends with "core: N passed, N failed";
-- a crash (or a sanitizer report) without that line counts as a failure
local function core_test(exe)
  local p = assert(io.popen(exe .. " 2>&1"))
  local last
  for line in p:lines() do print(line); last = line end
  local exited = p:close()
  local np, nf = (last or ""):match("^core: (%d+) passed, (%d+) failed$")
  np, nf = tonumber(np) or 0, tonumber(nf) or 1
  if not exited and nf == 0 then nf = 1 end
  return np, nf
end

local core_passed, core_failed = 0, 0
if os.getenv("LUNET_CORE_TEST") then
  core_passed, core_failed = core_test(os.getenv("LUNET_CORE_TEST"))
end

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
local failed = r.notSuccessCount + load_errors + core_failed
local line = string.format("%d passed, %d failed", r.successCount + core_passed, failed)
if r.skippedCount > 0 then line = line .. string.format(", %d skipped", r.skippedCount) end
print(line)
os.exit(failed == 0 and 0 or 1)
