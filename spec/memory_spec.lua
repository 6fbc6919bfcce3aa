-- Memory: tensor buffers are malloc'd in C, invisible to Lua's collector,
-- so the binding must push the collector itself (DESIGN.md, "Pitfalls").
-- Loops that drop large tensors must stay bounded; graphs, views and
-- failed ops must give back everything they took.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"

-- ASan's quarantine keeps freed blocks resident; its RSS says little
local SANITIZED = os.getenv("LUNET_SANITIZE") ~= nil

local function rss_kib()
  local s = H.read_file("/proc/self/status")
  return s and tonumber(s:match("VmRSS:%s*(%d+)"))
end

local function settle()
  collectgarbage()
  collectgarbage()
  return lunet.memory_allocated()
end

TestMemory = {}

function TestMemory:test_memory_allocated_counts_storage()
  local base = settle()
  local x = lunet.zeros{1000}
  lu.assertEquals(lunet.memory_allocated() - base, 4000)
  -- views share the storage: no new bytes
  local v = x:view{10, 100}:t():narrow(1, 2, 50)
  lu.assertEquals(lunet.memory_allocated() - base, 4000)
  local y = lunet.ones{25, 4}
  lu.assertEquals(lunet.memory_allocated() - base, 4400)
  x, v, y = nil, nil, nil
  lu.assertEquals(settle(), base)
end

function TestMemory:test_big_tensors_in_a_loop_stay_bounded()
  local n = SANITIZED and 2000 or 20000
  -- from a clean state: the buffers earlier specs freed, which the
  -- allocator keeps for reuse (up to twice the peak), given back first
  local base = settle()
  lunet._release_cache()
  local before = rss_kib()
  for _ = 1, n do
    local z = lunet.zeros{262144}   -- 1 MiB, dropped at once
    z = nil
  end
  local rss = rss_kib()
  if rss and not SANITIZED then
    lu.assertTrue(rss < 512 * 1024, string.format("VmRSS %.0f MiB after %d MiB of tensors",
                                                  rss / 1024, n))
    lu.assertTrue(rss - before < 256 * 1024, string.format("VmRSS grew by %.0f MiB",
                                                           (rss - before) / 1024))
  end
  -- live storage never piled up past the collector's threshold
  lu.assertTrue(lunet.memory_allocated() - base < 256 * 2 ^ 20,
                string.format("%.0f MiB still allocated", (lunet.memory_allocated() - base) / 2 ^ 20))
  lu.assertEquals(settle(), base)
end

function TestMemory:test_results_of_ops_in_a_loop_stay_bounded()
  local base = settle()
  local x = lunet.ones{512, 512}    -- 1 MiB
  local peak = 0
  for _ = 1, 300 do
    local y = (x * 2 + 1):t():contiguous()
    peak = math.max(peak, lunet.memory_allocated() - base)
    y = nil
  end
  lu.assertTrue(peak < 300 * 2 ^ 20, string.format("peak %.0f MiB", peak / 2 ^ 20))
  x = nil
  lu.assertEquals(settle(), base)
end

function TestMemory:test_graphs_are_freed_after_backward()
  local base = settle()
  local w = lunet.randn{8, 8}:requires_grad(true)
  local with_w = settle()
  for _ = 1, 2000 do
    local x = lunet.randn{8, 8}:requires_grad(true)
    local y = ((x * x):exp() * w + x:t()):sum()
    y:backward()
  end
  lu.assertNotNil(w.grad)
  w.grad = nil
  local after = settle()
  lu.assertTrue(math.abs(after - with_w) <= 1024,
                string.format("%d bytes left after 2000 graphs", after - with_w))
  w = nil
  lu.assertEquals(settle(), base)
end

function TestMemory:test_graphs_freed_without_backward_and_with_retain()
  local base = settle()
  for i = 1, 1000 do
    local x = lunet.randn{4, 4}:requires_grad(true)
    local y = (x:view{16}:narrow(1, 2, 8) * 3 + x:select(1, 2):expand(2, 4):reshape{8}):sum()
    if i % 2 == 0 then
      y:backward({retain_graph = true})
      y:backward()
    end
    -- odd iterations drop the graph unused
  end
  lu.assertEquals(settle(), base)
end

-- a forward pass with grad on whose result is dropped unused (an eval
-- loop that forgot no_grad) must free its graph: no op may keep its own
-- output alive through the node it hangs on it
function TestMemory:test_unused_graphs_are_freed_for_every_op()
  local ops = {
    add = function(x) return x + 1 end, mul = function(x) return x * x end,
    div = function(x) return x / 2 end, pow = function(x) return x ^ 2 end,
    maximum = function(x) return lunet.maximum(x, 0) end,
    exp = function(x) return x:exp() end, tanh = function(x) return x:tanh() end,
    sigmoid = function(x) return x:sigmoid() end, relu = function(x) return x:relu() end,
    gelu = function(x) return x:gelu() end, sqrt = function(x) return x:abs():sqrt() end,
    clamp = function(x) return x:clamp(0, 1) end,
    where = function(x) return lunet.where(x:gt(0), x, 0) end,
    view = function(x) return x:view{16}:narrow(1, 2, 3):unsqueeze(1) end,
    permute = function(x) return x:t():contiguous() end,
    expand = function(x) return x:view{16, 1}:expand(16, 2) end,
    cat = function(x) return lunet.cat({x, x}, 1) end,
    stack = function(x) return lunet.stack({x, x}, 2) end,
  }
  local leaking = {}
  for name, f in pairs(ops) do
    local base = settle()
    for _ = 1, 100 do
      local x = lunet.randn{4, 4}:requires_grad(true)
      local y = f(x)
      y = nil
    end
    local left = settle() - base
    if left ~= 0 then leaking[#leaking + 1] = string.format("%s (%d bytes)", name, left) end
  end
  table.sort(leaking)
  lu.assertEquals(#leaking, 0, "unused graphs not freed: " .. table.concat(leaking, ", "))
end

function TestMemory:test_views_keep_storage_alive()
  local base = settle()
  local v
  do
    local x = lunet.zeros{256, 4}
    v = x:narrow(1, 10, 2)
  end
  lu.assertEquals(settle() - base, 4096)   -- x is gone but its storage lives
  lunet.no_grad(function() v:fill_(3) end)
  lu.assertEquals(v:get{2, 4}, 3)
  v = nil
  lu.assertEquals(settle(), base)
end

function TestMemory:test_failed_ops_leak_nothing()
  local base = settle()
  local a, b = lunet.zeros{2, 3}, lunet.zeros{4}
  local x = lunet.randn{2, 3}:requires_grad(true)
  local with_inputs = settle()
  for _ = 1, 500 do
    pcall(function() return a + b end)
    pcall(function() return a:view{7} end)
    pcall(function() return lunet.cat({a, b}, 1) end)
    pcall(function() return lunet.tensor{{1, 2}, {3, "x"}} end)
    pcall(function() return (x * 2):backward() end)
    pcall(function() return (x * x):sum():backward(lunet.zeros{3}) end)
    pcall(lunet.no_grad, function() local t = lunet.ones{100}; error("inside") end)
  end
  lu.assertEquals(settle(), with_inputs)
  a, b, x = nil, nil, nil
  lu.assertEquals(settle(), base)
end

function TestMemory:test_grads_freed_with_their_leaf()
  local base = settle()
  do
    local x = lunet.randn{100}:requires_grad(true)
    ;(x * x):sum():backward()
    lu.assertEquals(x.grad:numel(), 100)
  end
  lu.assertEquals(settle(), base)
end
