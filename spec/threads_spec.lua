-- lunet's thread pool: the thread count, results that repeat bit for bit
-- on a given count (and across counts: the pool cuts its work the same
-- way whatever the count), errors raised inside the pool's threads, and
-- child processes started while the pool runs.  make test runs every spec
-- on 2 threads with the work cut into small chunks (LUNET_THREAD_STRESS),
-- so that the threads run even on small tensors.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"
local nn = lunet.nn

TestThreads = {}

function TestThreads:setUp() self.threads = lunet.get_num_threads() end
function TestThreads:tearDown() lunet.set_num_threads(self.threads) end

function TestThreads:test_set_and_get()
  lunet.set_num_threads(3)
  lu.assertEquals(lunet.get_num_threads(), 3)
  lu.assertEquals(lunet.blas_info().threads, 3)   -- OpenBLAS's count follows
  lunet.set_num_threads(1)
  lu.assertEquals(lunet.get_num_threads(), 1)
  H.raises("set_num_threads: expected a count >= 1, got 0", lunet.set_num_threads, 0)
  H.raises("set_num_threads: 5000 threads is more than 1024", lunet.set_num_threads, 5000)
  lu.assertEquals(lunet.get_num_threads(), 1)
end

-- three AdamW steps of a small GPT: the losses and every parameter
local function train(threads, attention)
  lunet.set_num_threads(threads)
  lunet.manual_seed(5)
  local model = nn.TransformerLM { vocab_size = 16, d_model = 32, n_layer = 2, num_heads = 4,
                                   max_len = 24, attention = attention }
  local opt = lunet.optim.AdamW(model:parameters(), { lr = 1e-2 })
  local t = {}
  for b = 1, 3 do
    t[b] = {}
    for i = 1, 24 do t[b][i] = (b * 5 + i * 7) % 16 + 1 end
  end
  local ids = lunet.tensor(t)
  local losses = {}
  for step = 1, 3 do
    local loss = lunet.cross_entropy(model(ids), ids)
    opt:zero_grad()
    loss:backward()
    opt:step()
    losses[step] = loss:item()
  end
  local params = {}
  for name, p in pairs(model:state_dict()) do params[name] = p:flatten(1, -1):totable() end
  return losses, params
end

function TestThreads:test_same_bits_run_to_run_and_across_counts()
  for _, attention in ipairs { "mha", "gqa", "gated" } do
    local l2, p2 = train(2, attention)
    local l2b, p2b = train(2, attention)
    local l1, p1 = train(1, attention)
    lu.assertEquals(l2b, l2, attention .. ": 2 threads, twice")
    lu.assertEquals(p2b, p2, attention .. ": 2 threads, twice")
    lu.assertEquals(l1, l2, attention .. ": 1 and 2 threads")
    lu.assertEquals(p1, p2, attention .. ": 1 and 2 threads")
  end
end

function TestThreads:test_error_inside_the_pool()
  -- an op that fails while its work is spread over the threads: a normal
  -- Lua error with the op's message, and the pool works on afterwards
  lunet.set_num_threads(2)
  local x = lunet.randn { 64, 64 }
  H.raises("embedding: id 65 out of range for 64 embeddings", lunet.embedding,
           lunet.tensor { 1, 65 }, x)
  H.assert_close(lunet.gelu(x):sum(), lunet.gelu(x):sum(), 0)
end

function TestThreads:test_child_processes_while_the_pool_runs()
  -- the pool's threads do not come along into a fork: a child that runs
  -- lunet (popen runs a shell, then the program) works, and so do we
  lunet.set_num_threads(2)
  local x = lunet.randn { 256, 256 }
  local before = lunet.gelu(x):sum():item()
  local prog = os.getenv("LUNET_PROGRAM")
  lu.skipIf(prog == nil, "LUNET_PROGRAM not set (run through make test)")
  local p = io.popen(string.format("%s -e 'print(lunet.randn{300,300}:gelu():numel())' 2>&1",
                                   prog))
  local out = p:read("a")
  p:close()
  lu.assertStrContains(out, "90000")
  lu.assertEquals(lunet.gelu(x):sum():item(), before)
end
