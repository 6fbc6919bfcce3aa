-- lunet.data: every toy task's generator -- shapes, token ranges,
-- determinism, and that the task's structure really holds.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"
local data = lunet.data

local function rows(...)
  local out = {}
  for i, t in ipairs { ... } do out[i] = t:totable() end
  return table.unpack(out)
end

local function check_shapes(task, x, y, m)
  local B, S = task.batch_size, task.seq_len
  for _, t in ipairs { x, y, m } do lu.assertEquals(t:shape(), { B, S }) end
  local X, M = rows(x, m)
  for b = 1, B do
    for j = 1, S do
      local v = X[b][j]
      lu.assertTrue(v >= 1 and v <= task.vocab_size and v == math.floor(v),
                    string.format("input %s at [%d][%d] outside 1..%d", v, b, j, task.vocab_size))
      lu.assertTrue(M[b][j] == 0 or M[b][j] == 1)
    end
  end
end

-- same seed: same batches; other seed: other batches; eval stream apart
local function check_determinism(make)
  local a, b, c = make(1), make(1), make(2)
  local a1, a2 = a:batch(), a:batch()
  lu.assertEquals(a1:totable(), (b:batch()):totable())
  lu.assertEquals(a2:totable(), (b:batch()):totable())
  lu.assertNotEquals(a1:totable(), (c:batch()):totable())
  lu.assertNotEquals(a1:totable(), a2:totable())
  lu.assertEquals(a.index, 2)
  -- random access and resume
  lu.assertEquals((a:train_batch(2)):totable(), a2:totable())
  a:reset(1)
  lu.assertEquals((a:batch()):totable(), a2:totable())
  -- the evaluation batches are fixed and differ from training's
  lu.assertEquals((a:eval_batch()):totable(), (b:eval_batch(1)):totable())
  lu.assertNotEquals((a:eval_batch(1)):totable(), a1:totable())
  lu.assertNotEquals((a:eval_batch(1)):totable(), (a:eval_batch(2)):totable())
  -- independent of lunet's global generator
  lunet.manual_seed(1)
  local d1 = make(5):batch():totable()
  lunet.manual_seed(99)
  lunet.rand { 10 }
  lu.assertEquals(make(5):batch():totable(), d1)
end

TestDataMQAR = {}

function TestDataMQAR:test_structure()
  local V, S, n = 64, 40, 6
  local task = data.mqar { vocab_size = V, seq_len = S, num_kv_pairs = n, batch_size = 16, seed = 7 }
  local x, y, m = task:batch()
  check_shapes(task, x, y, m)
  local X, Y, M = rows(x, y, m)
  for b = 1, task.batch_size do
    local value_of, keys, values, queried = {}, {}, {}, {}
    for i = 1, n do
      local k, v = X[b][2 * i - 1], X[b][2 * i]
      lu.assertTrue(k >= 2 and k <= V // 2, "key " .. k .. " outside the lower half")
      lu.assertTrue(v > V // 2 and v <= V, "value " .. v .. " outside the upper half")
      lu.assertNil(keys[k], "keys are distinct")
      lu.assertNil(values[v], "values are distinct")
      keys[k], values[v], value_of[k] = true, true, v
    end
    local scored = 0
    for j = 1, S do
      if M[b][j] == 1 then
        scored = scored + 1
        lu.assertTrue(j > 2 * n, "queries come after the pairs")
        lu.assertEquals((j - 2 * n) % 2, 1, "queries sit at even offsets after the pairs")
        local k = X[b][j]
        lu.assertNotNil(value_of[k], "a scored position holds a key seen earlier")
        lu.assertEquals(Y[b][j], value_of[k], "the target is the value paired with the key")
        lu.assertNil(queried[k], "each key is queried once")
        queried[k] = true
      else
        lu.assertEquals(Y[b][j], 0, "unscored targets hold ignore_index")
      end
    end
    lu.assertEquals(scored, n)
  end
end

function TestDataMQAR:test_lm_targets_and_fillers()
  local task = data.mqar { vocab_size = 32, seq_len = 16, num_kv_pairs = 2, batch_size = 4,
                           random_non_queries = false, lm_targets = true }
  local X, Y, M = rows(task:batch())
  for b = 1, 4 do
    for j = 5, 16 do
      if M[b][j] == 0 then
        lu.assertEquals(X[b][j], 1, "fillers are token 1 without random_non_queries")
        if j < 16 then lu.assertEquals(Y[b][j], X[b][j + 1], "lm target is the next token") end
      end
    end
  end
  local t2 = data.mqar { vocab_size = 32, seq_len = 16, num_kv_pairs = 2, ignore_index = -100 }
  local _, y2, m2 = t2:batch()
  local Y2, M2 = rows(y2, m2)
  lu.assertEquals(Y2[1][1], -100)
  lu.assertEquals(M2[1][1], 0)
end

function TestDataMQAR:test_power_law_gaps()
  -- power_a = 0.01 puts queries much closer to the pairs than uniform gaps
  local function mean_query_pos(a)
    local task = data.mqar { vocab_size = 256, seq_len = 128, num_kv_pairs = 4, batch_size = 64,
                             power_a = a, seed = 3 }
    local M = rows(select(3, task:batch()))
    local sum, cnt = 0, 0
    for b = 1, #M do
      for j = 1, 128 do if M[b][j] == 1 then sum, cnt = sum + j, cnt + 1 end end
    end
    return sum / cnt
  end
  local near, uniform = mean_query_pos(0.01), mean_query_pos(1)
  lu.assertTrue(near + 15 < uniform, string.format("mean query position %g vs %g", near, uniform))
end

function TestDataMQAR:test_determinism()
  check_determinism(function(seed)
    return data.mqar { vocab_size = 32, seq_len = 16, num_kv_pairs = 3, batch_size = 4, seed = seed }
  end)
end

function TestDataMQAR:test_errors()
  H.raises("data.mqar: num_kv_pairs 5 needs seq_len >= 20", function()
    data.mqar { seq_len = 16, num_kv_pairs = 5 }
  end)
  H.raises("data.mqar: seq_len must be even, got 15", function() data.mqar { seq_len = 15, num_kv_pairs = 2 } end)
  H.raises("data.mqar: num_kv_pairs 8 exceeds the 7 keys of vocab_size 16", function()
    data.mqar { vocab_size = 16, seq_len = 64, num_kv_pairs = 8 }
  end)
  H.raises("data.mqar: unknown option 'num_pairs'", function() data.mqar { num_pairs = 3 } end)
  H.raises("data.mqar: batch_size must be an integer >= 1, got 0", function() data.mqar { batch_size = 0 } end)
  H.raises("data.mqar: seed must be an integer, got 1.5", function() data.mqar { seed = 1.5 } end)
end

TestDataSequence = {}

local function check_sequence_task(name, transform)
  local task = data[name] { vocab_size = 12, seq_len = 20, batch_size = 8, seed = 4 }
  local x, y, m = task:batch()
  check_shapes(task, x, y, m)
  local X, Y, M = rows(x, y, m)
  local n = 10
  for b = 1, 8 do
    local src = {}
    for i = 1, n do
      src[i] = X[b][i]
      lu.assertTrue(src[i] >= 2, "content tokens are 2..vocab_size")
    end
    lu.assertEquals(X[b][n + 1], task.sep)
    local want, got = transform(src), {}
    for j = n + 1, 2 * n do
      lu.assertEquals(M[b][j], 1)
      got[#got + 1] = Y[b][j]
    end
    lu.assertEquals(got, want, name .. " targets")
    for j = 1, n do
      lu.assertEquals(M[b][j], 0)
      lu.assertEquals(Y[b][j], 0)
    end
    -- teacher forcing: the inputs after the separator are the targets shifted
    for j = n + 2, 2 * n do lu.assertEquals(X[b][j], Y[b][j - 1]) end
  end
  check_determinism(function(seed) return data[name] { seed = seed, batch_size = 2 } end)
end

function TestDataSequence:test_copy()
  check_sequence_task("copy", function(s) return s end)
end

function TestDataSequence:test_reverse()
  check_sequence_task("reverse", function(s)
    local r = {}
    for i = #s, 1, -1 do r[#r + 1] = s[i] end
    return r
  end)
end

function TestDataSequence:test_sort()
  check_sequence_task("sort", function(s)
    -- sorted by hand: insertion sort, so this does not lean on table.sort
    local r = {}
    for _, v in ipairs(s) do
      local i = #r
      while i >= 1 and r[i] > v do r[i + 1] = r[i]; i = i - 1 end
      r[i + 1] = v
    end
    for i = 2, #r do lu.assertTrue(r[i - 1] <= r[i]) end
    return r
  end)
end

function TestDataSequence:test_errors()
  H.raises("data.copy: seq_len must be even", function() data.copy { seq_len = 7 } end)
  H.raises("data.sort: vocab_size must be an integer >= 3, got 2", function() data.sort { vocab_size = 2 } end)
end

TestDataModadd = {}

function TestDataModadd:test_answers()
  local p = 13
  local task = data.modadd { p = p, batch_size = 64, seed = 2 }
  lu.assertEquals({ task.vocab_size, task.seq_len, task.plus, task.equals }, { p + 2, 4, p + 1, p + 2 })
  local x, y, m = task:batch()
  check_shapes(task, x, y, m)
  local X, Y, M = rows(x, y, m)
  for b = 1, 64 do
    local a, c = X[b][1] - 1, X[b][3] - 1
    lu.assertTrue(a >= 0 and a < p and c >= 0 and c < p)
    lu.assertEquals({ X[b][2], X[b][4] }, { p + 1, p + 2 })
    lu.assertEquals(M[b], { 0, 0, 0, 1 })
    lu.assertEquals(Y[b][4] - 1, (a + c) % p, string.format("%d + %d mod %d", a, c, p))
  end
  check_determinism(function(seed) return data.modadd { p = 11, seed = seed, batch_size = 8 } end)
end

function TestDataModadd:test_held_out_pairs()
  local p = 7
  local task = data.modadd { p = p, train_frac = 0.5, batch_size = 64, seed = 5 }
  local train, eval = {}, {}
  local function collect(set, x)
    for _, r in ipairs(x:totable()) do set[(r[1] - 1) * p + (r[3] - 1)] = true end
  end
  for k = 1, 10 do collect(train, task:batch()); collect(eval, task:eval_batch(k)) end
  local ntrain, neval = 0, 0
  for pair in pairs(train) do
    ntrain = ntrain + 1
    lu.assertNil(eval[pair], "a training pair appears in evaluation")
  end
  for _ in pairs(eval) do neval = neval + 1 end
  lu.assertTrue(ntrain <= 25 and ntrain >= 20, "train pairs seen: " .. ntrain)
  lu.assertTrue(neval <= 24 and neval >= 19, "eval pairs seen: " .. neval)
end

function TestDataModadd:test_errors()
  H.raises("data.modadd: seq_len is 4", function() data.modadd { seq_len = 8 } end)
  H.raises("data.modadd: vocab_size must be an integer >= 12", function() data.modadd { p = 10, vocab_size = 5 } end)
  H.raises("data.modadd: train_frac must be a number in (0, 1]", function() data.modadd { train_frac = 0 } end)
end

TestDataCharLM = {}

local TEXT = "the quick brown fox jumps over the lazy dog. " ..
             "pack my box with five dozen liquor jugs! héllo wörld. "

local function find(hay, needle) return hay:find(needle, 1, true) end

function TestDataCharLM:test_file()
  local path = H.temp_file(TEXT:rep(3))
  local task = data.char_lm(path, { seq_len = 12, batch_size = 6, seed = 3, split = 0.8 })
  os.remove(path)
  -- vocabulary: the distinct characters (UTF-8 aware), sorted
  local seen, n = {}, 0
  for _, c in utf8.codes(TEXT) do
    if not seen[c] then seen[c] = true; n = n + 1 end
  end
  lu.assertEquals(task.vocab_size, n)
  for i = 2, #task.chars do lu.assertTrue(task.chars[i - 1] < task.chars[i]) end
  lu.assertEquals(task:decode(task:encode("héllo dog")), "héllo dog")
  local x, y, m = task:batch()
  check_shapes(task, x, y, m)
  local X, Y, M = rows(x, y, m)
  local full = TEXT:rep(3)
  for b = 1, 6 do
    local inp, tgt = task:decode(X[b]), task:decode(Y[b])
    lu.assertNotNil(find(full, inp), "inputs are a window of the text")
    lu.assertEquals(utf8.len(inp), 12)
    -- targets are the next characters: input minus its first char, plus one more
    local second = utf8.offset(inp, 2)
    lu.assertEquals(tgt:sub(1, utf8.offset(tgt, 12) - 1), inp:sub(second))
    lu.assertNotNil(find(full, inp .. tgt:sub(utf8.offset(tgt, 12))))
    for j = 1, 12 do lu.assertEquals(M[b][j], 1) end
  end
  lu.assertEquals(task:decode(x[1]), task:decode(X[1]), "decode takes a tensor")
  -- evaluation windows come from the last 20% of the characters
  local chars = {}
  for _, c in utf8.codes(full) do chars[#chars + 1] = utf8.char(c) end
  local tail = table.concat(chars, "", math.floor(#chars * 0.8) + 1)
  for _, r in ipairs(task:eval_batch():totable()) do
    lu.assertNotNil(find(tail, task:decode(r)), "eval window inside the held-out text")
  end
  check_determinism(function(seed) return data.char_lm { text = full, seq_len = 8, seed = seed } end)
end

function TestDataCharLM:test_errors()
  H.raises("data.char_lm: cannot read '/nonexistent/lunet.txt'",
           function() data.char_lm("/nonexistent/lunet.txt") end)
  H.raises("data.char_lm: the text has 4 characters for training, need at least seq_len + 1 = 9",
           function() data.char_lm { text = "abcde", seq_len = 8, split = 0.8 } end)
  local task = data.char_lm { text = "abcdefghij", seq_len = 4 }
  H.raises("character \"z\" (at 2) is not in the vocabulary", function() task:encode("az") end)
  H.raises("decode: id 11 (at 1) is not in 1..10", function() task:decode { 11 } end)
  H.raises("the evaluation part has 1 characters", function() task:eval_batch() end)
  H.raises("data.char_lm: vocab_size comes from the text",
           function() data.char_lm { text = "abc", vocab_size = 3, seq_len = 1 } end)
end

TestDataMake = {}

function TestDataMake:test_by_name()
  lu.assertEquals(data.make("copy", { seed = 3 }):batch():totable(), data.copy { seed = 3 }:batch():totable())
  local path = H.temp_file(TEXT)
  local t = data.make("char_lm", { path = path, seq_len = 5 })
  os.remove(path)
  lu.assertEquals(t.seq_len, 5)
  H.raises("data.make: unknown task 'mqr' (one of mqar, copy", function() data.make("mqr") end)
end
