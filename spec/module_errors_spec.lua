-- Errors raised inside models: reported at the user's line, naming the
-- submodule that failed by its path, with the traceback kept whole
-- (nothing caught and raised again on the way out of a module).
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"
local nn = lunet.nn

TestModuleErrors = {}

local FILE = "module_errors_spec.lua"

-- the line this function is called from
local function here() return debug.getinfo(2, "l").currentline end

-- a 2-layer LM whose layer 2 has a query projection of the wrong width
local function broken_lm()
  lunet.manual_seed(1)
  local m = nn.TransformerLM { vocab_size = 10, d_model = 8, n_layer = 2, num_heads = 1 }
  m.blocks[2].attn.query = nn.Linear(4, 8)
  return m
end

-- call the broken LM under catch (pcall or xpcall with a handler): the
-- error (or the handler's result) and the line of the call
local function call_broken(catch, handler)
  local m, ids = broken_lm(), lunet.ones { 1, 3 }
  local line
  local ok, err = catch(function()
    line = here(); local y = m(ids)
    return y
  end, handler)
  lu.assertFalse(ok)
  return err, line
end

function TestModuleErrors:test_core_error_names_the_users_line_and_the_submodule()
  local err, line = call_broken(pcall)
  lu.assertStrContains(err, FILE .. ":" .. line .. ": ")
  lu.assertStrContains(err, "in TransformerLM.blocks[2].attn.query: linear: input {1,3,8} does not match weight {8,4}")
  lu.assertNotStrContains(err, "lunet/nn/")
end

function TestModuleErrors:test_traceback_lists_the_users_frame_and_the_layers()
  local trace, line = call_broken(xpcall, debug.traceback)
  lu.assertStrContains(trace, "in TransformerLM.blocks[2].attn.query: linear:")
  lu.assertStrContains(trace, "stack traceback:")
  lu.assertStrContains(trace, FILE .. ":" .. line .. ":")           -- the user's frame
  -- the handler ran where the error happened: the frames inside the model are there
  lu.assertStrContains(trace, "transformer_block.lua")
  lu.assertStrContains(trace, "multi_head_attention.lua")
  lu.assertStrContains(trace, "transformer_lm.lua")
end

function TestModuleErrors:test_lua_side_error_names_the_users_line_and_the_submodule()
  local Net = nn.Module:extend("Net", { "width" })
  function Net:init(o) self.attn = nn.MHA { hidden_size = o.width, num_heads = 2 } end
  local inner
  function Net:forward(x)
    inner = here(); local y = self.attn(x)
    return y
  end
  local net = Net { 16 }
  local ok, err = pcall(net, lunet.zeros { 1, 3, 8 })
  lu.assertFalse(ok)
  -- the user's line is the one in Net:forward, the user's code that called the library
  lu.assertStrContains(err, FILE .. ":" .. inner .. ": in Net.attn: MultiHeadAttention: " ..
                       "input width 8 does not match hidden_size 16")
  local line
  -- called directly, a module names itself: no path
  local ok2, err2 = pcall(function()
    line = here(); local y = net.attn(lunet.zeros { 1, 3, 8 })
    return y
  end)
  lu.assertFalse(ok2)
  lu.assertStrContains(err2, FILE .. ":" .. line .. ": MultiHeadAttention: input width 8")
end

function TestModuleErrors:test_paths_through_lists_and_sequentials()
  local seq = nn.Sequential(nn.Linear(4, 4), nn.GELU(), nn.Linear(3, 2))
  local line
  local ok, err = pcall(function()
    line = here(); local y = seq(lunet.zeros { 2, 4 })
    return y
  end)
  lu.assertFalse(ok)
  lu.assertStrContains(err, FILE .. ":" .. line .. ": in Sequential[3]: linear: input {2,4}")
end

function TestModuleErrors:test_no_stale_path_after_an_error()
  local m = broken_lm()
  pcall(m, lunet.ones { 1, 3 })
  local lin = nn.Linear(4, 2)
  local ok, err = pcall(lin, lunet.zeros { 3 })
  lu.assertFalse(ok)
  lu.assertStrContains(err, "linear: input {3}")
  lu.assertNotStrContains(err, "TransformerLM")
  lu.assertNotStrContains(err, " in ")
end

function TestModuleErrors:test_errors_inside_coroutines()
  local m = broken_lm()
  local co = coroutine.create(function() return m(lunet.ones { 1, 3 }) end)
  local ok, err = coroutine.resume(co)
  lu.assertFalse(ok)
  lu.assertStrContains(err, "in TransformerLM.blocks[2].attn.query: linear:")
  -- and the dead coroutine leaves nothing behind for the next error
  local ok2, err2 = pcall(nn.Linear(4, 2), lunet.zeros { 3 })
  lu.assertFalse(ok2)
  lu.assertNotStrContains(err2, "TransformerLM")
end

function TestModuleErrors:test_train_reports_at_the_users_call_with_the_traceback()
  local m = broken_lm()
  local task = lunet.data.mqar { vocab_size = 10, seq_len = 8, num_kv_pairs = 2, batch_size = 2 }
  local opt = lunet.optim.SGD(m:parameters(), { lr = 0.1 })
  local line
  local ok, trace = xpcall(function()
    line = here(); lunet.train { model = m, optimizer = opt, data = task, steps = 2, quiet = true }
  end, debug.traceback)
  lu.assertFalse(ok)
  lu.assertStrContains(trace, FILE .. ":" .. line .. ": in TransformerLM.blocks[2].attn.query: linear:")
  lu.assertStrContains(trace, "train.lua")          -- the loop's frames are kept
  lu.assertStrContains(trace, FILE .. ":" .. line .. ":")
  -- options of train: one message format
  H.raises("train: unknown option 'stpes' (did you mean 'steps'?)", function()
    lunet.train { model = m, optimizer = opt, data = task, stpes = 2 }
  end)
end

function TestModuleErrors:test_evaluate_and_generate_put_modes_back_after_an_error()
  local m = broken_lm()
  m:train()
  local task = lunet.data.mqar { vocab_size = 10, seq_len = 8, num_kv_pairs = 2, batch_size = 2 }
  lu.assertFalse(pcall(lunet.train.evaluate, m, task, 1))
  lu.assertTrue(m.training)
  lu.assertTrue(m.blocks[2].attn.training)
  lu.assertTrue(lunet.is_grad_enabled())
  lu.assertFalse(pcall(m.generate, m, { 1, 2 }, 2))
  lu.assertTrue(m.blocks[1].training)
  lu.assertTrue(lunet.is_grad_enabled())
end

function TestModuleErrors:test_profile_leaves_no_state_after_an_error()
  local m = broken_lm()
  local ok, err = pcall(lunet.profile.count, m, { 1, 3 })
  lu.assertFalse(ok)
  lu.assertStrContains(err, "in TransformerLM.blocks[2].attn.query: linear:")
  -- counting is off again: a later count works
  local r = lunet.profile.count(nn.Linear(4, 2), { 1, 4 })
  lu.assertEquals(r.params.total, 10)
end

-- ---------------------------------------------------------------- options

TestOptions = {}

function TestOptions:test_distance_and_did_you_mean()
  local util = require "lunet.util"
  lu.assertEquals(util.distance("bais", "bias"), 1)           -- a swap is one edit
  lu.assertEquals(util.distance("n_layers", "n_layer"), 1)
  lu.assertEquals(util.distance("", "abc"), 3)
  lu.assertEquals(util.did_you_mean("casual", { "cache", "causal" }), "causal")
  lu.assertEquals(util.did_you_mean("num_pairs", { "num_kv_pairs", "seq_len" }), "num_kv_pairs")
  lu.assertNil(util.did_you_mean("amsgrad", { "betas", "eps", "lr", "weight_decay" }))
end

function TestOptions:test_check_options()
  local util = require "lunet.util"
  lu.assertEquals(util.check_options("op", { a = 1 }, { "a", "b" }), { a = 1 })
  lu.assertNil(util.check_options("op", nil, { "a" }))
  H.raises("op: unknown option 'c'", util.check_options, "op", { c = 1 }, { "a", "b" })
  H.raises("op: unknown option 'alpah' (did you mean 'alpha'?)",
           util.check_options, "op", { alpah = 1 }, { "alpha" }, { beta = 2 })
  H.raises("op: options must be a table, got number", util.check_options, "op", 3, { "a" })
  -- the first unknown name in order, whatever the table's order
  H.raises("op: unknown option 'x'", util.check_options, "op", { z = 1, x = 1, y = 1 }, {})
end

-- every function or constructor taking options reports its own name in
-- the one format
function TestOptions:test_one_format_everywhere()
  local lin = nn.Linear(4, 4)
  local p = { lin.weight }
  local m = nn.TransformerLM { vocab_size = 10, d_model = 16, n_layer = 1, num_heads = 2 }
  local cases = {
    { "TransformerLM: unknown option 'n_layers' (did you mean 'n_layer'?)",
      function() return nn.TransformerLM { vocab_size = 10, d_model = 16, n_layers = 2, num_heads = 2 } end },
    { "TransformerLM: unknown option 'group_sise' (did you mean 'group_size'?)",
      function() return nn.TransformerLM { 10, 16, 1, 2, attention = "gqa", group_sise = 2 } end },
    { "TransformerLM: unknown option 'down_dim'",           -- MLA's, not MHA's
      function() return nn.TransformerLM { 10, 16, 1, 2, down_dim = 8 } end },
    { "TransformerBlock: unknown option 'mlp_ration' (did you mean 'mlp_ratio'?)",
      function() return nn.TransformerBlock { 16, 2, mlp_ration = 2 } end },
    { "Linear: unknown option 'bais' (did you mean 'bias'?)",
      function() return nn.Linear { 4, 3, bais = false } end },
    { "MultiHeadLatentAttention: unknown option 'rope_headdim' (did you mean 'rope_head_dim'?)",
      function() return nn.MLA { rope_headdim = 8 } end },
    { "MultiHeadAttention: unknown option 'casual' (did you mean 'causal'?)",
      function() return nn.MHA(16, 2)(lunet.zeros { 1, 2, 16 }, nil, { casual = true }) end },
    { "TransformerLM: unknown option 'cahce' (did you mean 'cache'?)",
      function() return m(lunet.ones { 1, 2 }, nil, { cahce = 1 }) end },
    { "TransformerLM: generate: unknown option 'topk' (did you mean 'top_k'?)",
      function() return m:generate({ 1 }, 1, { topk = 2 }) end },
    { "SGD: unknown option 'momentun' (did you mean 'momentum'?)",
      function() return lunet.optim.SGD(p, { momentun = 0.9 }) end },
    { "AdamW: unknown option 'weight_decy' (did you mean 'weight_decay'?)",
      function() return lunet.optim.AdamW(p, { weight_decy = 0 }) end },
    { "schedule.warmup_cosine: unknown option 'warm_up' (did you mean 'warmup'?)",
      function() return lunet.optim.schedule.warmup_cosine { lr = 1, warm_up = 2, total = 3 } end },
    { "data.mqar: unknown option 'num_pairs' (did you mean 'num_kv_pairs'?)",
      function() return lunet.data.mqar { num_pairs = 3 } end },
    { "save_checkpoint: unknown option 'modle' (did you mean 'model'?)",
      function() return lunet.save_checkpoint("x.safetensors", { modle = lin }) end },
    { "Linear: load_state_dict: unknown option 'strikt' (did you mean 'strict'?)",
      function() return lin:load_state_dict(lin:state_dict(), { strikt = false }) end },
    { "MultiHeadAttention: new_cache: unknown option 'capacty' (did you mean 'capacity'?)",
      function() return nn.MHA(16, 2):new_cache { capacty = 4 } end },
    { "profile.count: unknown option 'casual' (did you mean 'causal'?)",
      function() return lunet.profile.count(lin, { 1, 4 }, { casual = true }) end },
  }
  for _, c in ipairs(cases) do
    local line
    local ok, err = pcall(function()
      line = here(); local r = c[2]()
      return r
    end)
    lu.assertFalse(ok, c[1])
    lu.assertStrContains(err, c[1])
    lu.assertStrContains(err, FILE .. ":" .. line .. ": ", false)    -- at the user's line
  end
end

-- A core error raised while lunet's own Lua code runs (saving, loading,
-- gradcheck, autograd.grad, the training loop) is reported at the user's
-- line, named for the function the user called, never at a line of
-- lunet's files.
TestLibraryErrors = {}

local MISSING = "/nonexistent-lunet-dir/x.safetensors"

function TestLibraryErrors:test_save_and_load()
  local m = nn.Linear(2, 2)
  H.raises_here("load: /nonexistent.st: cannot open: No such file or directory", function() m:load("/nonexistent.st") end)
  H.raises_here("save: " .. MISSING .. ": cannot create it: No such file or directory", function() m:save(MISSING) end)
  H.raises_here("load_checkpoint: /nonexistent.st: cannot open", function() lunet.load_checkpoint("/nonexistent.st", { model = m }) end)
  H.raises_here("save_checkpoint: " .. MISSING .. ": cannot create it: No such file or directory", function() lunet.save_checkpoint(MISSING, { model = m }) end)
  -- the temporary file beside the target is lunet's business, not the message's
  local ok, err = pcall(m.save, m, MISSING)
  lu.assertFalse(ok)
  lu.assertNotStrContains(err, ".tmp-")
  lu.assertNotStrContains(err, "lunet/nn/")
end

function TestLibraryErrors:test_load_checkpoint_refuses_a_bad_generator_state_and_changes_nothing()
  local path = os.tmpname()
  local m = nn.Linear(2, 2)
  lunet.save_checkpoint(path, { model = m, step = 3 })
  local tensors, meta = lunet.load(path)
  tensors.rng_state = lunet.zeros({ 41 }, { dtype = "uint8" })
  lunet.save(path, tensors, meta)
  local rng = lunet.get_rng_state()
  lunet.no_grad(function() m.weight:fill_(7) end)
  H.raises_here("load_checkpoint: rng_state: not a generator state", function() lunet.load_checkpoint(path, { model = m }) end)
  lu.assertEquals(m.weight:totable(), { { 7, 7 }, { 7, 7 } })
  lu.assertTrue(lunet.equal(lunet.get_rng_state(), rng))
  os.remove(path)
end

function TestLibraryErrors:test_gradcheck()
  local x, w = lunet.randn{ 2 }, H.leaf(lunet.randn{ 2 })
  H.raises_here("gradcheck: no input requires grad (input 1 does not)", function() local ok = lunet.gradcheck(function(a) return a end, { x }); return ok end)
  H.raises_here("gradcheck: fn's output does not require grad", function() local ok = lunet.gradcheck(function() return lunet.ones{ 2 } end, { w }); return ok end)
  H.raises_here("gradcheck: fn must return a tensor, got number", function() local ok = lunet.gradcheck(function() return 1 end, { w }); return ok end)
  H.raises_here("gradcheck: inputs must be a list of tensors (and other arguments), got a tensor", function() local ok = lunet.gradcheck(function(a) return a end, w); return ok end)
  H.raises_here("gradcheck: unknown option 'epsilon'", function() local ok = lunet.gradcheck(function(a) return a end, { w }, { epsilon = 1 }); return ok end)
  lu.assertTrue((lunet.gradcheck(function(a) return a * a end, { w })))
end

function TestLibraryErrors:test_autograd_grad()
  local w = H.leaf(lunet.randn{ 2 })
  H.raises_here("autograd.grad: outputs[1] does not require grad", function() local g = lunet.autograd.grad(lunet.ones{ 1 }, { w }); return g end)
  H.raises_here("autograd.grad: outputs[1] has 2 elements: give its grad_outputs", function() local g = lunet.autograd.grad(w * 2, { w }); return g end)
  local y = (w * 2):sum()
  lunet.autograd.grad(y, { w })
  H.raises_here("autograd.grad: the graph through", function() local g = lunet.autograd.grad(y, { w }); return g end)
end

function TestLibraryErrors:test_train_checks_the_loss()
  local m = nn.Linear(2, 2)
  local opt = lunet.optim.SGD(m:parameters(), { lr = 0.1 })
  local data = function() return lunet.ones{ 1, 2 }, lunet.ones{ 1, 2 } end
  local function opts(loss_fn) return { model = m, optimizer = opt, data = data, steps = 1, quiet = true, loss_fn = loss_fn } end
  H.raises_here("train: step 1: the loss does not require grad", function() lunet.train(opts(function() return lunet.ones{ 1 }:sum() end)) end)
  H.raises_here("train: step 1: the loss has shape {1,2}, expected one element", function() lunet.train(opts(function(mod, x) return mod(x) end)) end)
  H.raises_here("train: step 1: the loss function returned nil, expected a tensor", function() lunet.train(opts(function() end)) end)
  local y = (m(lunet.ones{ 1, 2 }) ^ 2):sum()
  y:backward()
  H.raises_here("backward: the graph through", function() lunet.train(opts(function() return y end)) end)
end
