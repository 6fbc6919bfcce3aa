--[[
The fuzzers' seed corpus: build/bin/lunet fuzz/make_corpus.lua rewrites
fuzz/corpus/safetensors/ (whole files) and fuzz/corpus/json/ (their
headers).  Files named valid-* must load and hostile-* must be refused
with a message; spec/reliability_spec.lua holds every one to that.
]]
local HERE = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = HERE .. "/../spec/?.lua;" .. package.path
local lunet = require "lunet"
local H = require "helpers"           -- the specs' safetensors-by-hand helpers

local DIR = HERE .. "/corpus"
local write, file, entry, floats = H.write_file, H.stfile, H.st_entry, H.floats

local n = 0
-- a case: the whole file's bytes, its header kept for the JSON corpus
local function case(name, header, data, raw)
  write(DIR .. "/safetensors/" .. name, raw or file(header, data))
  if header then write(DIR .. "/json/" .. name, header) end
  n = n + 1
end

os.execute("rm -rf " .. DIR .. " && mkdir -p " .. DIR .. "/safetensors " .. DIR .. "/json")

-- ------------------------------------------------------------ valid files

-- what lunet.save writes (its own header), read back for the corpus
local function saved(name, tensors, meta)
  local path = os.tmpname()
  lunet.save(path, tensors, meta)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  os.remove(path)
  local hlen = string.unpack("<I8", s)
  case(name, s:sub(9, 8 + hlen), nil, s)
end

lunet.manual_seed(1)
saved("valid-saved", { ["fc.weight"] = lunet.randn { 3, 4 }, ["fc.bias"] = lunet.randn { 4 },
                       scalar = lunet.tensor(2.5), empty = lunet.zeros { 0, 3 } },
      { format = "pt", note = 'quotes " \\ and\nnewlines', ["caf\xc3\xa9"] = "\xf0\x9f\x98\x80" })
saved("valid-nometa", { x = lunet.arange(6):view { 2, 3 } })
case("valid-f16", "{" .. entry("h", "F16", { 3 }, 0, 6) .. "}", string.pack("<I2I2I2", 0x3c00, 0x7c00, 0x0001))
case("valid-bf16", "{" .. entry("b", "BF16", { 2 }, 0, 4) .. "}", string.pack("<I2I2", 0x3f80, 0x7fc0))
case("valid-f64", "{" .. entry("d", "F64", { 2 }, 0, 16) .. "}", string.pack("<dd", 1e300, -2.5))
case("valid-ints", "{" .. entry("i64", "I64", { 2 }, 0, 16) .. "," .. entry("i32", "I32", { 1 }, 16, 20) ..
     "," .. entry("u8", "U8", { 3 }, 20, 23) .. "," .. entry("b", "BOOL", { 2 }, 23, 25) .. "}",
     string.pack("<i8i8i4", -3, 1 << 40, 7) .. "\1\2\255" .. "\0\5")
saved("valid-saved-dtypes", { ids = lunet.tensor({ 1, 2, 3 }, { dtype = "int64" }),
                              mask = lunet.tensor({ { 1, 0 } }):bool() })
case("valid-order", "{" .. entry("b", "F32", { 1 }, 4, 8) .. "," .. entry("a", "F32", { 1 }, 0, 4) .. "}",
     floats(1, 2))
case("valid-zero-dims", "{" .. entry("z", "F32", { 0, 5 }, 0, 0) .. "," .. entry("s", "F32", {}, 0, 4) .. "}",
     floats(7))
case("valid-escapes", '{"a\\u00e9\\ud83d\\ude00\\n\\"":{"dtype":"F32","shape":[1],"data_offsets":[0,4],' ..
     '"extra":[1,{"k":[]}]} , "__metadata__" : {"\\/":"\\t"}}  ', floats(3))

-- ------------------------------------------------------------ hostile files

local E = entry("w", "F32", { 2 }, 0, 8)
local F2 = floats(1, 2)
case("hostile-short", nil, nil, "\1\0\0")
case("hostile-hlen-past-end", nil, nil, string.pack("<I8", 1000) .. "{}")
case("hostile-hlen-huge", nil, nil, string.pack("<I8", -1) .. "{}")
case("hostile-not-object", "[1,2]", "")
case("hostile-trailing", "{}x", "")
case("hostile-unclosed", "{" .. E, F2)
case("hostile-bad-dtype", "{" .. entry("w", "Q8", { 2 }, 0, 8) .. "}", F2)
case("hostile-negative-dim", "{" .. entry("w", "F32", { -2 }, 0, 8) .. "}", F2)
case("hostile-dims-overflow", "{" .. entry("w", "F32", { 4294967296, 4294967296, 4294967296 }, 0, 8) .. "}", F2)
case("hostile-too-many-dims", "{" .. entry("w", "F32", { 1, 1, 1, 1, 1, 1, 1, 1, 1 }, 0, 4) .. "}", floats(1))
case("hostile-offsets-past-buffer", "{" .. entry("w", "F32", { 2 }, 0, 80) .. "}", F2)
case("hostile-offsets-reversed", "{" .. entry("w", "F32", { 2 }, 8, 0) .. "}", F2)
case("hostile-size-mismatch", "{" .. entry("w", "F32", { 3 }, 0, 8) .. "}", F2)
case("hostile-overlap", "{" .. entry("a", "F32", { 2 }, 0, 8) .. "," .. entry("b", "F32", { 1 }, 4, 8) .. "}", F2)
case("hostile-gap", "{" .. entry("a", "F32", { 1 }, 4, 8) .. "}", F2)
case("hostile-duplicate-name", "{" .. E .. "," .. E .. "}", F2)
case("hostile-duplicate-meta", '{"__metadata__":{"k":"a","k":"b"}}', "")
case("hostile-meta-not-string", '{"__metadata__":{"epoch":3}}', "")
case("hostile-float-number", '{"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}', F2)
case("hostile-int-overflow", '{"w":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}', F2)
case("hostile-leading-zero", '{"w":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}}', F2)
case("hostile-deep", '{"w":{"dtype":"F32","x":' .. string.rep("[", 70) .. string.rep("]", 70) .. "}}", "")
case("hostile-lone-surrogate", '{"\\ud800":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', F2)
case("hostile-nul-escape", '{"a\\u0000":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', F2)
case("hostile-control-char", '{"a\nb":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', F2)
case("hostile-utf8-stray", '{"w\xff":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', F2)
case("hostile-utf8-overlong", '{"\xc0\xaf":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', F2)
case("hostile-utf8-surrogate", '{"\xed\xa0\x80":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', F2)
case("hostile-utf8-meta", '{"__metadata__":{"k":"v\xf4\x90\x80\x80"}}', "")
case("hostile-truncated-data", "{" .. E .. "}", floats(1):sub(1, 3))
case("hostile-unterminated-string", '{"w', "")
case("hostile-bad-escape", '{"\\q":{}}', "")
case("hostile-missing-field", '{"w":{"dtype":"F32","shape":[2]}}', F2)
case("hostile-twice", '{"w":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}', F2)
case("hostile-true", '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":true}}', F2)
print(string.format("make_corpus: %d files in %s", n, DIR))
