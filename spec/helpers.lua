-- Shared helpers for the specs.
local lu = require "luaunit"
local lunet = require "lunet"

local H = {}

-- lunet's warnings (lunet.util.warn) are kept here instead of printed,
-- so specs can look at them and the run's output stays clean
H.warnings = {}
require("lunet.util").warning_sink = function(msg) H.warnings[#H.warnings + 1] = msg end

-- assert two tensors (or a tensor and a nested table) agree within tol
function H.assert_close(actual, expected, tol, msg)
  tol = tol or 1e-5
  local a = lunet.is_tensor(actual) and actual:totable() or actual
  local e = lunet.is_tensor(expected) and expected:totable() or expected
  local function walk(x, y, path)
    if type(x) == "table" then
      lu.assertEquals(type(y), "table", (msg or "") .. " at " .. path)
      lu.assertEquals(#x, #y, (msg or "") .. " length at " .. path)
      for i = 1, #x do walk(x[i], y[i], path .. "[" .. i .. "]") end
    elseif type(x) == "boolean" or type(y) == "boolean" then   -- bool tensors
      lu.assertEquals(x, y, (msg or "") .. " at " .. path)
    else
      lu.assertEquals(type(y), "number", (msg or "") .. " at " .. path)
      if not (x ~= x and y ~= y) and not (x == y) then
        local d = math.abs(x - y)
        if not (d <= tol * math.max(1, math.abs(y))) then
          lu.fail(string.format("%s at %s: %.7g ~= %.7g", msg or "values differ", path, x, y))
        end
      end
    end
  end
  walk(a, e, "")
end

-- gradcheck that fails the test with the worst element named
function H.gradcheck(fn, inputs, opts)
  local ok, worst, where = lunet.gradcheck(fn, inputs, opts)
  lu.assertTrue(ok, string.format("gradcheck failed: worst rel err %.3g, %s", worst, where))
end

-- a leaf that requires grad
function H.leaf(t) return t:detach():requires_grad(true) end

-- assert that fn raises an error whose message contains text
function H.raises(text, fn, ...)
  local ok, err = pcall(fn, ...)
  lu.assertFalse(ok, "expected an error containing: " .. text)
  lu.assertStrContains(tostring(err), text, false)
end

-- assert that fn raises an error containing text and reported at the
-- line that calls raises_here ("errors_spec.lua:42: ..."): write fn on
-- that line, and not as a tail call of a Lua function (`function() local
-- y = f(); return y end`), whose frame Lua would drop
function H.raises_here(text, fn, ...)
  local info = debug.getinfo(2, "Sl")
  local where = info.short_src .. ":" .. info.currentline .. ": "
  local ok, err = pcall(fn, ...)
  lu.assertFalse(ok, "expected an error containing: " .. text)
  err = tostring(err)
  if err:sub(1, #where) ~= where then
    lu.fail(string.format("expected the error at %s got: %s", where, err))
  end
  lu.assertStrContains(err, text, false)
end

-- log(sum(exp(v))) of a Lua list, in double, shifted by its max: the
-- plain reference for the softmax family
function H.logsumexp(v)
  local m = -math.huge
  for _, e in ipairs(v) do m = math.max(m, e) end
  local s = 0
  for _, e in ipairs(v) do s = s + math.exp(e - m) end
  return m + math.log(s)
end

-- ---------------------------------------------------------------- shapes and values

-- number of elements of a shape ({} is a 0-d tensor: 1)
function H.numel(shape)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  return n
end

-- iterator over every 1-based index of shape, row-major: for idx in H.indices{2, 3}
H.indices = require("lunet.util").indices

-- nested table of shape whose element at idx is f(idx) (f gets a fresh
-- table each call, in row-major order); for a 0-d shape {} the number f({})
function H.build(shape, f)
  local idx = {}
  local function rec(d)
    if d > #shape then return f({table.unpack(idx)}) end
    local t = {}
    for i = 1, shape[d] do idx[d] = i; t[i] = rec(d + 1) end
    return t
  end
  return rec(1)
end

-- the row-major list vals laid out as a nested table of shape (H.flat undone)
function H.unflat(vals, shape)
  local k = 0
  return H.build(shape, function() k = k + 1; return vals[k] end)
end

-- the element of nested table t at index idx
function H.at(t, idx)
  for _, i in ipairs(idx) do t = t[i] end
  return t
end

-- flat row-major list of a tensor's (any strides) or a nested table's values
H.flat = require("lunet.util").flat

-- v rounded to the nearest float32, as a tensor would store it
function H.f32(v) return (string.unpack("<f", string.pack("<f", v))) end

-- ---------------------------------------------------------------- plain-Lua references

-- layer norm over the last dim in plain Lua doubles:
-- (x - mean) / sqrt(var + eps) * w + b, element by element; rms: RMS norm
-- (mean taken as 0).  w and b may be nil.  Returns a nested table of x's shape.
function H.plain_norm(x, w, b, eps, rms)
  local shape = x:shape()
  local D = shape[#shape]
  local rows = x:detach():reshape{x:numel() // D, D}:totable()
  local wv, bv = w and H.flat(w), b and H.flat(b)
  local out = {}
  for r, row in ipairs(rows) do
    local mean, var = 0, 0
    for j = 1, D do mean = mean + row[j] end
    mean = rms and 0 or mean / D
    for j = 1, D do var = var + (row[j] - mean) ^ 2 end
    local rstd = 1 / math.sqrt(var / D + eps)
    for j = 1, D do
      out[#out + 1] = (row[j] - mean) * rstd * (wv and wv[j] or 1) + (bv and bv[j] or 0)
    end
  end
  return H.unflat(out, shape)
end

-- ---------------------------------------------------------------- modules

-- a module's parameter names, in named_parameters order
function H.param_names(m)
  local out = {}
  for name in m:named_parameters() do out[#out + 1] = name end
  return out
end

-- ---------------------------------------------------------------- files and child processes

-- the whole content of a file, or nil and io.open's message
function H.read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("a")
  f:close()
  return s
end

-- write s to path, replacing what was there
function H.write_file(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- a new temp file holding contents (if given); the caller removes it
function H.temp_file(contents)
  local path = os.tmpname()
  if contents then H.write_file(path, contents) end
  return path
end

-- ---------------------------------------------------------------- safetensors by hand

-- a whole file from its header text and data bytes
function H.stfile(header, data)
  return string.pack("<I8", #header) .. header .. (data or "")
end

-- one header entry
function H.st_entry(name, dtype, shape, b, e)
  return string.format('"%s":{"dtype":"%s","shape":[%s],"data_offsets":[%d,%d]}',
                       name, dtype, table.concat(shape, ","), b, e)
end

-- little-endian float32 bytes
function H.floats(...) return string.pack("<" .. string.rep("f", select("#", ...)), ...) end

-- the temporary files a save of path left beside it ("<path>.tmp-*")
function H.temporaries(path)
  local dir, base = path:match("^(.*)/([^/]*)$")
  local out = H.sh("ls -a " .. H.q(dir or ".") .. " 2>/dev/null")
  local found = {}
  for name in out:gmatch("[^\n]+") do
    if name:sub(1, #(base or path) + 5) == (base or path) .. ".tmp-" then found[#found + 1] = name end
  end
  return found
end

-- tmpfile, cleanup: tmpfile(contents) makes a temp file (see temp_file)
-- and remembers it; cleanup() removes every file remembered (a teardown)
function H.temp_tracker()
  local temps = {}
  local function tmpfile(contents)
    local name = H.temp_file(contents)
    temps[#temps + 1] = name
    return name
  end
  local function cleanup()
    for _, f in ipairs(temps) do os.remove(f) end
    temps = {}
  end
  return tmpfile, cleanup
end

-- run fn with the globals of `globals` set, then put the old values back
-- (an error is raised again after that)
function H.with_globals(globals, fn)
  local old = {}
  for k, v in pairs(globals) do old[k] = rawget(_G, k); rawset(_G, k, v) end
  local ok, err = pcall(fn)
  for k in pairs(globals) do rawset(_G, k, old[k]) end
  if not ok then error(err, 0) end
end

-- s quoted for sh
function H.q(s)
  return "'" .. tostring(s):gsub("'", [['\'']]) .. "'"
end

-- run cmd under sh; returns its stdout and then what io.popen's close
-- gives: true if it exited 0, "exit" or "signal", and the status or signal
function H.sh(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  return out, p:close()
end

-- the interpreter running the specs: lua5.4, or the lunet program
function H.interpreter()
  local interp, i = arg and arg[-1], -1
  while arg and arg[i - 1] do i = i - 1; interp = arg[i] end
  return interp or "lua5.4"
end

-- run a Lua script in a fresh process of the interpreter running the
-- specs (lua5.4, or the sanitized lunet under `make sanitize`), with the
-- C stack limited to stack_kib if given, so that a crash fails one test
-- and not the run.  Returns ok (exited 0) and its output (stdout and
-- stderr) followed by how it ended.
function H.run_lua(script, stack_kib)
  local path = H.temp_file(script)
  local out, ok, how, code = H.sh(string.format("%s%s %s 2>&1",
    stack_kib and ("ulimit -s " .. stack_kib .. "; ") or "", H.q(H.interpreter()), H.q(path)))
  os.remove(path)
  return ok == true, out .. " (" .. tostring(how) .. " " .. tostring(code) .. ")"
end

return H
