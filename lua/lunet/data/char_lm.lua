--[[
Character-level language modelling over a text the user names:
  data.char_lm("input.txt", {seq_len=64, batch_size=32, seed=1, split=0.9})
  data.char_lm{text = "...", seq_len = 64}
The vocabulary is the text's distinct characters, sorted (UTF-8 code points
when the text is valid UTF-8, else bytes), ids 1 .. vocab_size.  A batch
takes batch_size windows at random offsets: inputs are seq_len characters,
targets the next character at every position (all scored).  The first
`split` of the text (default 0.9) feeds :batch(), the rest :eval_batch();
split = 1 evaluates on the training text.
task:encode(string) -> list of ids; task:decode(ids or tensor) -> string.
]]
local lunet = require "lunet"
local Task = require "lunet.data.task"
local util = require "lunet.util"

local def = { name = "char_lm", options = { seq_len = 64, split = 0.9, text = false, path = false } }

local function chars_of(text)
  local list = {}
  if utf8.len(text) then
    for _, c in utf8.codes(text) do list[#list + 1] = utf8.char(c) end
  else
    for i = 1, #text do list[i] = text:sub(i, i) end
  end
  return list
end

function def.setup(self)
  local S = Task.int(self, "seq_len", 1)
  if self.vocab_size ~= nil then
    Task.fail(self, "vocab_size comes from the text; do not pass it")
  end
  local text = self.text
  if self.path then
    local f, err = io.open(self.path, "rb")
    if not f then
      local why = tostring(err)
      if why:sub(1, #self.path + 2) == self.path .. ": " then why = why:sub(#self.path + 3) end
      Task.fail(self, "cannot read '%s' (%s)", self.path, why)
    end
    text = f:read("a")
    f:close()
    if text == nil then Task.fail(self, "cannot read '%s'", self.path) end
  end
  if type(text) ~= "string" then
    Task.fail(self, "expected a file path or {text = string}, got %s", type(text))
  end
  local split = self.split
  if type(split) ~= "number" or not (split > 0 and split <= 1) then
    Task.fail(self, "split must be a number in (0, 1], got %s", tostring(split))
  end
  local chars = chars_of(text)
  local seen, vocab = {}, {}
  for _, c in ipairs(chars) do
    if not seen[c] then seen[c] = true; vocab[#vocab + 1] = c end
  end
  table.sort(vocab)
  local index = {}
  for i, c in ipairs(vocab) do index[c] = i end
  local ids = {}
  for i, c in ipairs(chars) do ids[i] = index[c] end
  self.chars, self.char_ids, self.ids = vocab, index, ids
  self.vocab_size = #vocab
  self.text = nil
  local n = #ids
  self.ntrain = split == 1 and n or math.floor(n * split)
  if self.ntrain < S + 1 then
    Task.fail(self, "%s has %d characters for training, need at least seq_len + 1 = %d",
              self.path and ("'" .. self.path .. "'") or "the text", self.ntrain, S + 1)
  end
end

-- a window [start, start + S] inside the split's range of the text
function def.sample(self, rng, split)
  local S, ids = self.seq_len, self.ids
  local lo, hi = 1, self.ntrain
  if split == "eval" and self.ntrain < #ids then lo, hi = self.ntrain + 1, #ids end
  if hi - lo < S then
    Task.fail(self, "the evaluation part has %d characters, need seq_len + 1 = %d "
              .. "(use a larger split fraction of a longer text, or split = 1)", hi - lo + 1, S + 1)
  end
  local start = rng:int(lo, hi - S)
  local inputs, targets, scored = {}, {}, {}
  for j = 1, S do
    inputs[j] = ids[start + j - 1]
    targets[j] = ids[start + j]
    scored[j] = true
  end
  return inputs, targets, scored
end

local Char = setmetatable({}, { __index = Task })
Char.__index = Char
Char.__tostring = Task.__tostring

function Char:encode(s)
  local out = {}
  for i, c in ipairs(chars_of(s)) do
    local id = self.char_ids[c]
    if not id then
      Task.fail(self, "encode: character %q (at %d) is not in the vocabulary", c, i)
    end
    out[i] = id
  end
  return out
end

function Char:decode(ids)
  if lunet.is_tensor(ids) then
    local t = ids:totable()
    if type(t) == "number" then t = { t } end
    ids = {}
    local function flat(x)
      if type(x) == "table" then for _, y in ipairs(x) do flat(y) end else ids[#ids + 1] = x end
    end
    flat(t)
  end
  local out = {}
  for i, id in ipairs(ids) do
    local c = self.chars[math.tointeger(id) or -1]
    if not c then
      Task.fail(self, "decode: id %s (at %d) is not in 1..%d", tostring(id), i, #self.chars)
    end
    out[i] = c
  end
  return table.concat(out)
end

return function(path, opts)
  if type(path) == "table" and opts == nil then path, opts = nil, path end
  opts = opts or {}
  if type(opts) ~= "table" then util.fail("data.char_lm", "options must be a table, got %s", type(opts)) end
  if path ~= nil and type(path) ~= "string" then
    util.fail("data.char_lm", "path must be a string, got %s", type(path))
  end
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  if path then o.path = path end
  local self = Task.new(def, o)
  return setmetatable(self, Char)
end
