--[[
make faults: allocation-failure injection, as Lua's own ltests.c does it.

The build (-DLT_FAULTS, under ASan+UBSan) counts every allocation of the
core and of Lua; lunet._fault_run(n, sticky, fn) calls fn with the nth of
them failing (sticky: that one and every later one).  Each piece of the
workload below runs once plainly, giving its reference result, then
again for n = 1, 2, ... until a run ends before its nth allocation, in
both modes.  Every run must
  - end in success with exactly the reference result, or in a Lua error
    saying memory ran out: never a crash, a different result or another
    error;
  - give back every tensor byte (memory_allocated after a collection);
  - leave the state working: the piece, run again without failures,
    gives the reference result again, in grad mode, with no profile on.
LeakSanitizer checks at exit that nothing else was left behind.

  lunet faults.lua [piece-name-pattern]      (make faults runs them all)
]]
local lunet = require "lunet"
local nn = lunet.nn

if not lunet._fault_run then
  io.stderr:write("faults.lua: this lunet was not built with -DLT_FAULTS (run make faults)\n")
  os.exit(2)
end

local TMP = os.getenv("TMPDIR") or "/tmp"
local CKPT = string.format("%s/lunet-faults-%d.safetensors", TMP, os.time())

-- an exact, printable digest of numbers and tensors
local function digest(...)
  local out = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if lunet.is_tensor(v) then
      out[#out + 1] = string.format("%a", v:sum():item())
      out[#out + 1] = table.concat(v:shape(), "x")
    else
      out[#out + 1] = type(v) == "number" and string.format("%a", v) or tostring(v)
    end
  end
  return table.concat(out, " ")
end

local function param_digest(model)
  local parts = {}
  for _, p in ipairs(model:parameters()) do parts[#parts + 1] = digest(p, p.grad) end
  return table.concat(parts, ";")
end

-- ------------------------------------------------------------------ pieces

local pieces = {}
local function piece(name, fn) pieces[#pieces + 1] = { name = name, fn = fn } end

piece("ops with autograd", function()
  lunet.manual_seed(1)
  local x = lunet.randn({3, 4}, { requires_grad = true })
  local w = lunet.randn({4, 5}, { requires_grad = true })
  local y = x:matmul(w)
  local s = y:softmax(-1) + y:log_softmax(-1):exp() * 0.5
  local c = lunet.cat({ s, y:tanh():t():contiguous():t() }, 2)
  local n = lunet.layer_norm(c, lunet.ones { 10 }, lunet.zeros { 10 })
  local m, idx = n:max(2)
  local loss = lunet.cross_entropy(n, lunet.tensor { 1, 2, 3 }) + m:sum() * 0.1
              + lunet.where(n:gt(0), n, n * 0.5):pow(2):mean()
  loss:backward()
  return digest(loss, x.grad, w.grad, idx)
end)

-- over more than one piece of 65536 floats: the pieces' buffer can fail
piece("one long row in pieces", function()
  lunet.manual_seed(3)
  local x = lunet.randn({ 65536 * 2 + 3 }, { requires_grad = true })
  local m = x:max()
  m:backward()
  return digest(m, x:argmin(), x:sum(), x.grad)
end)

piece("attention op and views", function()
  lunet.manual_seed(2)
  local q = lunet.randn({ 1, 2, 4, 3 }, { requires_grad = true })
  local k = lunet.randn({ 1, 2, 4, 3 }, { requires_grad = true })
  local v = lunet.randn({ 1, 2, 4, 3 }, { requires_grad = true })
  local o = lunet.attention(q, k, v, { causal = true })
  local parts = o:view { 2, 12 }:split(6, 2)
  local loss = (lunet.stack(parts, 1):narrow(3, 2, 3):select(1, 2) ^ 2):sum()
  loss:backward({ retain_graph = true })
  loss:backward()
  return digest(loss, q.grad, k.grad, v.grad)
end)

piece("anomaly detection", function()
  lunet.manual_seed(7)
  local x = lunet.randn({ 2, 3 }, { requires_grad = true })
  local ok, err = pcall(lunet.detect_anomaly, function()
    local y = (x:exp() + x:sigmoid()):sum()
    y:backward()
    local z = (x:abs() * 0):sqrt():sum()      -- finite forward, NaN backward
    z:backward()
  end)
  if ok or not err:find("backward: SqrtBackward returned") then error(err, 0) end
  return digest(x.grad, lunet.is_anomaly_enabled())
end)

piece("int64 ids, indexing, dtypes", function()
  lunet.manual_seed(8)
  local w = lunet.randn({ 5, 3 }, { requires_grad = true })
  local ids = lunet.tensor({ { 1, 4 }, { 5, 2 } }, { dtype = "int64" })
  local e = lunet.embedding(ids, w)
  local g = lunet.gather(e, 3, lunet.tensor({ { { 1 }, { 3 } }, { { 2 }, { 2 } } }, { dtype = "int64" }))
  local picked = lunet.index_select(w, 1, lunet.tensor({ 2, 2, 5 }, { dtype = "int64" }))
  local loss = g:sum() + picked:pow(2):sum() + lunet.where(e:gt(0), e, e * 0.1):sum()
  loss:backward()
  lunet.save(CKPT, { ids = ids, mask = e:gt(0), w = w:detach() }, { kind = "dtypes" })
  local t = lunet.load(CKPT)
  return digest(loss, w.grad, t.ids:sum():item(), t.mask:long():sum():item(), t.w)
end)

-- the variants of decode_spec, smaller
local VARIANTS = {
  { "mha", {} },
  { "mqa", {} },
  { "gqa", { group_size = 2 } },
  { "mla", { down_dim = 6, up_dim = 16, rope_head_dim = 2 } },
  { "gated", { latent_rank = 2 } },
}

local function tiny_lm(attention, extra)
  local o = { vocab_size = 7, d_model = 16, n_layer = 1, num_heads = 2, max_len = 8,
              attention = attention, mlp_ratio = 2 }
  for k, v in pairs(extra) do o[k] = v end
  return nn.TransformerLM(o)
end

local IDS = lunet.tensor { { 1, 2, 3, 4, 5 }, { 6, 5, 4, 3, 2 } }
local TARGETS = lunet.tensor { { 2, 3, 4, 5, 6 }, { 5, 4, 3, 2, 1 } }

for _, v in ipairs(VARIANTS) do
  local name, extra = v[1], v[2]
  piece("training step, " .. name, function()
    lunet.manual_seed(3)
    local model = tiny_lm(name, extra)
    local opt = lunet.optim.AdamW(model:parameters(), { lr = 1e-2 })
    local loss = lunet.cross_entropy(model(IDS), TARGETS)
    opt:zero_grad()
    loss:backward()
    local norm = lunet.optim.clip_grad_norm(model:parameters(), 0.5)
    opt:step()
    return digest(loss, norm) .. "|" .. param_digest(model)
  end)
end

for _, v in ipairs { VARIANTS[1], VARIANTS[4] } do   -- a plain cache and MLA's absorbed one
  local name, extra = v[1], v[2]
  piece("decoding, " .. name, function()
    lunet.manual_seed(4)
    local model = tiny_lm(name, extra)
    local out = model:generate(lunet.tensor { { 1, 2 } }, 3, { greedy = true })
    local sampled = model:generate(lunet.tensor { { 3 } }, 2, { seed = 5, top_k = 3 })
    return digest(out, sampled)
  end)
end

piece("save and load", function()
  lunet.manual_seed(6)
  local model = tiny_lm("gqa", { group_size = 2 })
  local opt = lunet.optim.Adam(model:parameters(), { lr = 1e-3 })
  lunet.save(CKPT, model:state_dict(), { note = "faults" })
  local t, meta = lunet.load(CKPT)
  local back = tiny_lm("gqa", { group_size = 2 })
  back:load_state_dict(t)
  lunet.save_checkpoint(CKPT, { model = back, optimizer = opt, step = 3 })
  local step = lunet.load_checkpoint(CKPT, { model = model, optimizer = opt })
  return digest(meta.note, step) .. "|" .. param_digest(back) .. "|" .. param_digest(model)
end)

-- ------------------------------------------------------------------ the sweep

local function settle()
  collectgarbage()
  collectgarbage()
  return lunet.memory_allocated()
end

local problems, bad_runs, current = {}, {}, nil
local function problem(fmt, ...)
  local msg = string.format(fmt, ...)
  problems[#problems + 1] = msg
  bad_runs[current] = true
  io.stderr:write("PROBLEM: ", msg, "\n")
end

-- one piece in one mode: n = 1, 2, ... until a run needs fewer than n
-- allocations; returns the failures injected, the runs that had one, the
-- runs that ended in an error, the allocations of a clean run, and the
-- distinct error messages
local function sweep(p, ref, sticky, base)
  local mode = sticky and "sticky" or "one-shot"
  local injected_total, runs, errors, n, total = 0, 0, 0, 0, 0
  local messages = {}
  while true do
    n = n + 1
    current = p.name .. "/" .. mode .. "/" .. n
    local ok, res, injected, count = lunet._fault_run(n, sticky, p.fn)
    if injected > 0 then runs = runs + 1 end
    injected_total = injected_total + injected
    if ok and res ~= ref then
      problem("%s, %s, allocation %d: succeeded with a different result\n  got  %s\n  want %s",
              p.name, mode, n, tostring(res), ref)
    elseif not ok and type(res) ~= "string" then
      problem("%s, %s, allocation %d: error object is a %s", p.name, mode, n, type(res))
    elseif not ok and not res:find("memory") then
      problem("%s, %s, allocation %d: the error does not say memory ran out: %s",
              p.name, mode, n, res)
    elseif not ok then
      errors = errors + 1
      local key = res:gsub("^[^:]*:%d+: ", ""):gsub("%d+", "N")
      messages[key] = (messages[key] or 0) + 1
    end
    local left = settle()
    if left ~= base then
      problem("%s, %s, allocation %d: %d tensor bytes not given back (%s)", p.name, mode,
              n, left - base, ok and "after success" or tostring(res))
      base = left
    end
    if not lunet.is_grad_enabled() then
      problem("%s, %s, allocation %d: grad mode left off", p.name, mode, n)
      lunet.set_grad_enabled(true)
    end
    if not ok then   -- the same state must still work
      local ok2, again = pcall(p.fn)
      if not ok2 or again ~= ref then
        problem("%s, %s, allocation %d: the next run gave %s", p.name, mode, n, tostring(again))
      end
      if settle() ~= base then
        problem("%s, %s, allocation %d: the run after leaked", p.name, mode, n)
        base = settle()
      end
    end
    if injected == 0 then total = count; break end
  end
  return injected_total, runs, errors, total, messages
end

warn("@on")   -- Lua reports a finalizer that failed as a warning
local pattern = arg and arg[1]
local t0 = os.clock()
local grand_injected, grand_runs = 0, 0
print(string.format("%-32s %7s  %-17s %-17s %s", "piece", "allocs", "one-shot (errors)",
                    "sticky (errors)", "messages"))
for _, p in ipairs(pieces) do
  if not pattern or p.name:find(pattern) then
    local ref = p.fn()
    if p.fn() ~= ref then problem("%s: not deterministic", p.name) end
    local base = settle()
    local i1, r1, e1, total, m1 = sweep(p, ref, false, base)
    local i2, r2, e2, _, m2 = sweep(p, ref, true, base)
    local kinds = {}
    for k in pairs(m1) do kinds[k] = true end
    for k in pairs(m2) do kinds[k] = true end
    local nkinds = 0
    for _ in pairs(kinds) do nkinds = nkinds + 1 end
    grand_injected, grand_runs = grand_injected + i1 + i2, grand_runs + r1 + r2
    print(string.format("%-32s %7d  %-17s %-17s %d", p.name, total,
                        string.format("%d (%d)", r1, e1), string.format("%d (%d)", r2, e2), nkinds))
    if os.getenv("FAULTS_VERBOSE") then
      for k in pairs(kinds) do print("    " .. k) end
    end
  end
end
os.remove(CKPT)
local nbad = 0
for _ in pairs(bad_runs) do nbad = nbad + 1 end
print(string.format("faults: %d runs, %d injected allocation failures, %d problems, %.0f s",
                    grand_runs, grand_injected, #problems, os.clock() - t0))
print(string.format("faults: %d passed, %d failed", grand_runs - nbad, nbad))
os.exit(#problems == 0 and 0 or 1, true)
