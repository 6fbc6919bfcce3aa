-- safetensors checkpoints: round trips, half-precision reads, and hostile
-- files, each of which must fail with a message naming the file and fault.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"

local TMP = "tmp"
os.execute("mkdir -p " .. TMP)

local function tmp(name) return TMP .. "/st_" .. name .. ".safetensors" end

local function exists(path) return H.read_file(path) ~= nil end

local stfile, entry, floats = H.stfile, H.st_entry, H.floats

local function load_error(path)
  local ok, err = pcall(lunet.load, path)
  lu.assertFalse(ok, "loading " .. path .. " should fail")
  return err
end

-- write header+data, load it, and check the exact message
local function hostile(name, header, data, msg)
  local path = tmp(name)
  H.write_file(path, stfile(header, data))
  lu.assertEquals(load_error(path), "load: " .. path .. ": " .. msg)
end

local function assert_same(a, b)
  lu.assertEquals(a:shape(), b:shape())
  lu.assertEquals(a:totable(), b:totable())
end

----------------------------------------------------------------- round trip

TestSafetensorsRoundTrip = {}

function TestSafetensorsRoundTrip:test_values_shapes_and_metadata()
  lunet.manual_seed(7)
  local base = lunet.randn{5, 6}
  local tensors = {
    ["fc.weight"] = lunet.randn{4, 3},
    ["fc.bias"] = lunet.randn{3},
    scalar = lunet.tensor(2.5),                       -- 0-d
    empty = lunet.zeros{0, 3},                        -- no elements
    transposed = base:transpose(1, 2),                -- non-contiguous
    expanded = lunet.tensor{{1}, {2}}:expand{2, 4},   -- stride 0
    narrowed = base:narrow(2, 2, 3),                  -- offset + gaps
    big = lunet.randn{70, 300}:t(),                   -- over the I/O chunk size
  }
  local meta = {format = "pt", note = 'quotes " and \\ and\nnewlines', ["é"] = "ü"}
  local path = tmp("roundtrip")
  lunet.save(path, tensors, meta)
  local got, m = lunet.load(path)
  local n = 0
  for k, v in pairs(tensors) do
    n = n + 1
    lu.assertTrue(lunet.is_tensor(got[k]), k)
    assert_same(got[k], v)
    lu.assertTrue(got[k]:is_contiguous())
  end
  for _ in pairs(got) do n = n - 1 end
  lu.assertEquals(n, 0)
  lu.assertEquals(got.scalar:dim(), 0)
  lu.assertEquals(got.scalar:item(), 2.5)
  lu.assertEquals(got.empty:shape(), {0, 3})
  lu.assertEquals(m, meta)
  lu.assertEquals(H.temporaries(path), {})
end

function TestSafetensorsRoundTrip:test_no_metadata_gives_empty_table()
  local path = tmp("nometa")
  lunet.save(path, {x = lunet.tensor{1, 2}})
  local got, m = lunet.load(path)
  lu.assertEquals(got.x:totable(), {1, 2})
  lu.assertEquals(m, {})
  lunet.save(path, {})
  got, m = lunet.load(path)
  lu.assertEquals(got, {})
  lu.assertEquals(m, {})
end

function TestSafetensorsRoundTrip:test_special_values_and_names()
  local inf, nan = math.huge, 0 / 0
  local names = {'a"b', "back\\slash", "new\nline", "tab\t", "ünï€😀", "", "x.y.z"}
  local tensors = {}
  for i, k in ipairs(names) do tensors[k] = lunet.tensor{i, -i} end
  tensors.special = lunet.tensor{inf, -inf, nan, -0.0, 1e-45, 3.4028234663852886e38}
  local path = tmp("special")
  lunet.save(path, tensors)
  local got = lunet.load(path)
  for i, k in ipairs(names) do lu.assertEquals(got[k]:totable(), {i, -i}, k) end
  local s = got.special:totable()
  lu.assertEquals(s[1], inf)
  lu.assertEquals(s[2], -inf)
  lu.assertTrue(s[3] ~= s[3])
  lu.assertEquals(1 / s[4], -inf)
  lu.assertEquals(s[5], H.f32(1e-45))
  lu.assertEquals(s[6], 3.4028234663852886e38)
end

-- the bytes match what the python library writes: keys sorted, metadata
-- first, header padded with spaces to a multiple of 8, float32 LE data
function TestSafetensorsRoundTrip:test_exact_bytes()
  local path = tmp("bytes")
  lunet.save(path, {b = lunet.tensor{1, 2}, a = lunet.tensor(3), c = lunet.zeros{2, 0}},
             {format = "pt"})
  local header = '{"__metadata__":{"format":"pt"},' ..
    entry("a", "F32", {}, 0, 4) .. "," .. entry("b", "F32", {2}, 4, 12) .. "," ..
    entry("c", "F32", {2, 0}, 12, 12) .. "}"
  header = header .. string.rep(" ", (8 - #header % 8) % 8)
  lu.assertEquals(H.read_file(path), stfile(header, floats(3, 1, 2)))
  lu.assertEquals(#header % 8, 0)
end

-- tensors are laid out largest element first, then by name, as the
-- reference writer does: with the data 8-byte aligned, every tensor starts
-- at a multiple of its element size (no F32 at an odd offset after a U8)
function TestSafetensorsRoundTrip:test_data_offsets_are_aligned()
  local path = tmp("aligned")
  local u8, i32 = { dtype = "uint8" }, { dtype = "int32" }
  lunet.save(path, { a = lunet.ones({ 3 }, u8), b = lunet.ones{ 3 }, c = lunet.arange(3, { dtype = "int64" }),
                     d = lunet.tensor{ true }, e = lunet.ones({ 1 }, i32), f = lunet.ones({ 5 }, u8) })
  local bytes = H.read_file(path)
  local n = string.unpack("<I8", bytes)
  lu.assertEquals((8 + n) % 8, 0)
  local size = { F32 = 4, I64 = 8, I32 = 4, U8 = 1, BOOL = 1 }
  local order = {}
  for name, dt, b in bytes:sub(9, 8 + n):gmatch('"(%w+)":{"dtype":"(%w+)","shape":%[[%d,]*%],"data_offsets":%[(%d+),%d+%]') do
    lu.assertEquals(tonumber(b) % size[dt], 0, name .. " " .. dt .. " at " .. b)
    order[#order + 1] = name
  end
  lu.assertEquals(order, { "c", "b", "e", "a", "d", "f" })
  local got = lunet.load(path)
  lu.assertEquals(got.c:totable(), { 0, 1, 2 })
  lu.assertEquals(got.f:totable(), { 1, 1, 1, 1, 1 })
  -- a file of the earlier layout (names only: an F32 at offset 1) still loads
  local old = tmp("unaligned")
  H.write_file(old, stfile("{" .. entry("a", "U8", { 1 }, 0, 1) .. "," .. entry("b", "F32", { 2 }, 1, 9) .. "}",
                           "\7" .. floats(1.5, -2)))
  got = lunet.load(old)
  lu.assertEquals(got.a:totable(), { 7 })
  lu.assertEquals(got.b:totable(), { 1.5, -2 })
end

function TestSafetensorsRoundTrip:test_overwrite()
  local path = tmp("overwrite")
  lunet.save(path, {x = lunet.ones{3}})
  lunet.save(path, {y = lunet.zeros{2}})
  local got = lunet.load(path)
  lu.assertNil(got.x)
  lu.assertEquals(got.y:totable(), {0, 0})
end

function TestSafetensorsRoundTrip:test_loaded_tensors_are_plain_leaves()
  local path = tmp("leaf")
  local w = lunet.randn{2, 2}:requires_grad(true)
  lunet.save(path, {w = w})
  local got = lunet.load(path)
  lu.assertFalse(got.w:requires_grad())
  assert_same(got.w, w:detach())
end

----------------------------------------------------------------- reading

TestSafetensorsRead = {}

local function u16s(...) return string.pack("<" .. string.rep("I2", select("#", ...)), ...) end

-- write a file holding the one tensor `name` (dtype, shape, raw data
-- bytes), load it and return that tensor
local function load_one(file, name, dtype, shape, data)
  local path = tmp(file)
  H.write_file(path, stfile("{" .. entry(name, dtype, shape, 0, #data) .. "}", data))
  return lunet.load(path)[name]
end

-- got[i] == want[i] exactly for every i of keys, where a nil want[i]
-- means NaN; a failure names keys[i] formatted by fmt
local function assert_exact(got, want, keys, fmt)
  for i = 1, #keys do
    local what = fmt:format(keys[i])
    if want[i] then lu.assertEquals(got[i], want[i], what)
    else lu.assertTrue(got[i] ~= got[i], what .. ": want nan, got " .. tostring(got[i])) end
  end
end

function TestSafetensorsRead:test_f16_exact()
  local bits = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x0400, 0x3555, 0x8000,
                0x7C00, 0xFC00, 0x7E00, 0x8001}
  local want = {1, -2, 65504, 2^-24, 1023 * 2^-24, 2^-14, 1365 / 4096, -0.0,
                math.huge, -math.huge, nil, -2^-24}
  local h = load_one("f16", "h", "F16", {#bits}, u16s(table.unpack(bits))):totable()
  assert_exact(h, want, bits, "0x%04x")
  lu.assertEquals(1 / h[8], -math.huge)
end

function TestSafetensorsRead:test_bf16_exact()
  local bits = {0x3F80, 0xC040, 0x7F80, 0xFF80, 0x0001, 0x8000, 0x7FC0, 0x4049, 0x7F7F}
  local want = {1, -3, math.huge, -math.huge, 2^-133, -0.0, nil, 3.140625,
                255 * 2^120}
  local b = load_one("bf16", "b", "BF16", {3, 3}, u16s(table.unpack(bits)))
  lu.assertEquals(b:shape(), {3, 3})
  local flat = b:flatten():totable()
  assert_exact(flat, want, bits, "0x%04x")
  lu.assertEquals(1 / flat[6], -math.huge)
end

-- every one of the 65536 half and bfloat16 bit patterns, against values
-- computed independently in Lua (exact in doubles)
function TestSafetensorsRead:test_all_f16_and_bf16_patterns()
  local n = 65536
  local bits = {}
  for i = 1, n do bits[i] = string.pack("<I2", i - 1) end
  local data = table.concat(bits)
  local path = tmp("allhalf")
  H.write_file(path, stfile("{" .. entry("h", "F16", {n}, 0, 2 * n) .. "," ..
                     entry("b", "BF16", {n}, 2 * n, 4 * n) .. "}", data .. data))
  local got = lunet.load(path)
  local h, b = got.h:totable(), got.b:totable()
  for u = 0, n - 1 do
    local sign = (u & 0x8000) ~= 0 and -1.0 or 1.0
    local e, m = (u >> 10) & 0x1f, u & 0x3ff
    local want
    if e == 31 then want = m == 0 and sign * math.huge or nil
    elseif e == 0 then want = sign * m * 2^-24
    else want = sign * (1 + m / 1024) * 2^(e - 15) end
    local x = h[u + 1]
    if want == nil then
      if x == x then lu.fail(("F16 0x%04x: want nan, got %s"):format(u, x)) end
    elseif x ~= want or (want == 0 and 1 / x ~= 1 / want) then
      lu.fail(("F16 0x%04x: want %s, got %s"):format(u, want, x))
    end
    local bw = string.unpack("<f", string.pack("<I4", u << 16))
    local y = b[u + 1]
    if bw ~= bw then
      if y == y then lu.fail(("BF16 0x%04x: want nan, got %s"):format(u, y)) end
    elseif y ~= bw or (bw == 0 and 1 / y ~= 1 / bw) then
      lu.fail(("BF16 0x%04x: want %s, got %s"):format(u, bw, y))
    end
  end
end

function TestSafetensorsRead:test_f64_rounds_to_float()
  local FLT_MAX = 3.4028234663852886e38
  -- FLT_MAX + 2^103 is half an ulp above it: the tie rounds to even (inf)
  local vals = {1.5, 0.1, -2^-149, 1e300, -1e300, FLT_MAX + 2^102, FLT_MAX,
                FLT_MAX + 2^103 - 2^75, -(FLT_MAX + 2^103), 2^-160, 0 / 0}
  local want = {1.5, H.f32(0.1), -2^-149, math.huge, -math.huge, FLT_MAX, FLT_MAX,
                FLT_MAX, -math.huge, 0, nil}
  local d = load_one("f64", "d", "F64", {#vals},
                     string.pack("<" .. string.rep("d", #vals), table.unpack(vals))):totable()
  assert_exact(d, want, vals, "%s")
end

function TestSafetensorsRead:test_large_f16_chunks()
  local n = 10000   -- more than one conversion chunk
  local data = {}
  for i = 1, n do data[i] = u16s(i % 2 == 0 and 0x3C00 or 0xBC00) end
  local h = load_one("f16big", "h", "F16", {100, 100}, table.concat(data)):flatten():totable()
  lu.assertEquals(#h, n)
  for i = 1, n do
    if h[i] ~= (i % 2 == 0 and 1 or -1) then lu.fail("element " .. i .. " is " .. h[i]) end
  end
end

-- header order need not follow data order; unknown fields are ignored;
-- whitespace and escapes are fine; mixed dtypes in one file
function TestSafetensorsRead:test_lenient_but_valid()
  local header = ' {\n "z" : {"shape":[2],"data_offsets":[4,8],"dtype":"F16","extra":{"k":[1,"v",[]]}},\t' ..
    '"__metadata__":{"k\\u00e9y":"v\\ud83d\\ude00\\"\\/"},\r\n' ..
    entry("a\\u0041", "F32", {1}, 0, 4) .. "," .. entry("e", "F32", {0}, 8, 8) ..
    "," .. entry("m", "BF16", {}, 8, 10) .. "}   "
  local path = tmp("lenient")
  H.write_file(path, stfile(header, floats(7) .. u16s(0x3C00, 0x4000, 0x4040)))
  local got, meta = lunet.load(path)
  lu.assertEquals(got.aA:totable(), {7})
  lu.assertEquals(got.z:totable(), {1, 2})
  lu.assertEquals(got.e:shape(), {0})
  lu.assertEquals(got.m:item(), 3)
  lu.assertEquals(meta, {["kéy"] = 'v😀"/'})
end

----------------------------------------------------------------- hostile files

TestSafetensorsHostile = {}

local F32x2 = floats(1, 2)

function TestSafetensorsHostile:test_missing_and_not_a_file()
  local path = tmp("does_not_exist")
  os.remove(path)
  lu.assertEquals(load_error(path), "load: " .. path .. ": cannot open: No such file or directory")
  lu.assertEquals(load_error(TMP), "load: " .. TMP .. ": not a regular file")
end

function TestSafetensorsHostile:test_truncated_header_length()
  local path = tmp("short")
  H.write_file(path, "\4\0\0")
  lu.assertEquals(load_error(path),
    "load: " .. path .. ": file is 3 bytes, too short for the 8-byte header length")
  H.write_file(path, "")
  lu.assertEquals(load_error(path),
    "load: " .. path .. ": file is 0 bytes, too short for the 8-byte header length")
end

function TestSafetensorsHostile:test_header_length_past_end()
  local path = tmp("hlen")
  H.write_file(path, string.pack("<I8", 1000) .. "{}")
  lu.assertEquals(load_error(path),
    "load: " .. path .. ": header length 1000 runs past the end of the 10-byte file")
  H.write_file(path, string.pack("<i8", -1) .. "{}")
  lu.assertEquals(load_error(path), "load: " .. path ..
    ": header length 18446744073709551615 runs past the end of the 10-byte file")
end

function TestSafetensorsHostile:test_header_over_cap()
  -- a sparse 120 MB file whose header length claims 110 MB
  local path = tmp("cap")
  local f = assert(io.open(path, "wb"))
  f:write(string.pack("<I8", 110 << 20))
  f:seek("set", 120 << 20)
  f:write("x")
  f:close()
  local err = load_error(path)
  os.remove(path)
  lu.assertEquals(err, "load: " .. path ..
    ": header length 115343360 is over the 104857600-byte limit")
end

function TestSafetensorsHostile:test_not_json()
  hostile("notjson", "hello", "",
          "invalid header JSON at byte 0: the header is not a JSON object")
  hostile("array", "[1,2]", "", "invalid header JSON at byte 0: the header is not a JSON object")
  hostile("emptyhdr", "", "", "invalid header JSON at byte 0: the header is not a JSON object")
  hostile("nulbyte", "{\0}", "", "invalid header JSON at byte 1: expected a string")
end

function TestSafetensorsHostile:test_trailing_garbage()
  hostile("trailing", "{} x", "",
          "invalid header JSON at byte 3: trailing characters after the header object")
  hostile("twoobjs", "{}{}", "",
          "invalid header JSON at byte 2: trailing characters after the header object")
end

function TestSafetensorsHostile:test_malformed_json()
  local e = entry("w", "F32", {2}, 0, 8)
  hostile("unclosed", "{" .. e, F32x2, "invalid header JSON at byte 53: expected ',' or '}'")
  hostile("nocolon", '{"w" {}}', "", "invalid header JSON at byte 5: expected ':' after an object key")
  hostile("trailcomma", "{" .. e .. ",}", F32x2, "invalid header JSON at byte 54: expected a string")
  hostile("unterminated", '{"w', "", "invalid header JSON at byte 1: unterminated string")
  hostile("badescape", '{"\\x":{}}', "", "invalid header JSON at byte 2: bad escape in a string")
  hostile("badu", '{"\\u12G4":{}}', "", "invalid header JSON at byte 2: bad \\u escape")
  hostile("lonehi", '{"\\ud83d":{}}', "", "invalid header JSON at byte 2: lone high surrogate")
  hostile("lonelo", '{"\\ude00":{}}', "", "invalid header JSON at byte 2: lone low surrogate")
  hostile("nul", '{"\\u0000":{}}', "", "invalid header JSON at byte 2: \\u0000 in a string is not supported")
  hostile("ctrl", '{"a\nb":{}}', "", "invalid header JSON at byte 3: control character in a string")
  hostile("float", "{" .. entry("w", "F32", {"2.0"}, 0, 8) .. "}", F32x2,
          "invalid header JSON at byte 30: numbers must be integers")
  hostile("exp", "{" .. entry("w", "F32", {"2e0"}, 0, 8) .. "}", F32x2,
          "invalid header JSON at byte 30: numbers must be integers")
  hostile("leading0", "{" .. entry("w", "F32", {"02"}, 0, 8) .. "}", F32x2,
          "invalid header JSON at byte 29: leading zero in a number")
  hostile("huge", "{" .. entry("w", "F32", {"99999999999999999999"}, 0, 8) .. "}", F32x2,
          "invalid header JSON at byte 47: integer too large")
  hostile("literal", '{"w":{"dtype":"F32","x":true}}', "",
          "invalid header JSON at byte 24: unsupported value (only objects, " ..
          "arrays, strings and integers are accepted)")
end

function TestSafetensorsHostile:test_missing_fields()
  hostile("nodtype", '{"w":{"shape":[2],"data_offsets":[0,8]}}', F32x2, "tensor 'w' has no dtype")
  hostile("noshape", '{"w":{"dtype":"F32","data_offsets":[0,8]}}', F32x2, "tensor 'w' has no shape")
  hostile("nooffsets", '{"w":{"dtype":"F32","shape":[2]}}', F32x2,
          "tensor 'w' has no data_offsets")
  hostile("notobject", '{"w":[1,2]}', "", "tensor 'w' is not an object")
  hostile("twice", '{"w":{"dtype":"F32","dtype":"F32"}}', "", "tensor 'w' has dtype twice")
  hostile("dtypenum", '{"w":{"dtype":32}}', "", "tensor 'w' dtype is not a string")
end

function TestSafetensorsHostile:test_unknown_dtype()
  hostile("f33", "{" .. entry("w", "F33", {2}, 0, 8) .. "}", F32x2,
          "tensor 'w' has unsupported dtype 'F33' (lunet reads F32, F16, BF16, F64, I64, I32, U8 and BOOL)")
  hostile("i8", "{" .. entry("w", "I8", {1}, 0, 8) .. "}", F32x2,
          "tensor 'w' has unsupported dtype 'I8' (lunet reads F32, F16, BF16, F64, I64, I32, U8 and BOOL)")
end

function TestSafetensorsHostile:test_bad_shapes()
  hostile("negdim", "{" .. entry("w", "F32", {2, -3}, 0, 8) .. "}", F32x2,
          "tensor 'w' has a negative dim (-3) in its shape")
  hostile("ndim9", "{" .. entry("w", "F32", {1, 1, 1, 1, 1, 1, 1, 1, 2}, 0, 8) .. "}", F32x2,
          "tensor 'w' has more than 8 dims")
  hostile("shapestr", '{"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}', F32x2,
          "tensor 'w' shape is not an array of integers")
  hostile("shapenest", '{"w":{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]}}', F32x2,
          "tensor 'w' shape is not an array of integers")
  -- 2^32 * 2^32 overflows int64 even though each dim is fine
  hostile("overflow", "{" .. entry("w", "F32", {4294967296, 4294967296}, 0, 8) .. "}", F32x2,
          "tensor 'w' shape {4294967296,4294967296} has too many elements")
  -- an empty tensor may have a huge other dim, as long as strides fit
  lu.assertEquals(load_one("emptyhuge", "e", "F32", {0, 1 << 40}, ""):shape(), {0, 1 << 40})
  hostile("overflow0", "{" .. entry("w", "F32", {0, 1 << 32, 1 << 32}, 0, 0) .. "}", "",
          "tensor 'w' shape {0,4294967296,4294967296} has too many elements")
  hostile("overflow2", "{" .. entry("w", "F64", {1 << 60}, 0, 8) .. "}", F32x2,
          "tensor 'w' shape {1152921504606846976} has too many elements")
end

function TestSafetensorsHostile:test_shape_offset_mismatch()
  hostile("mismatch", "{" .. entry("w", "F32", {2, 3}, 0, 20) .. "}", string.rep("\0", 20),
          "tensor 'w' (F32 {2,3}) needs 24 bytes but data_offsets [0,20] hold 20")
  hostile("mismatch16", "{" .. entry("w", "F16", {3}, 0, 8) .. "}", F32x2,
          "tensor 'w' (F16 {3}) needs 6 bytes but data_offsets [0,8] hold 8")
end

function TestSafetensorsHostile:test_bad_offsets()
  hostile("beyond", "{" .. entry("fc.weight", "F32", {10, 10}, 0, 400) .. "}",
          string.rep("\0", 256),
          "tensor 'fc.weight' data_offsets [0,400] exceed the 256-byte buffer (is the file truncated?)")
  hostile("backwards", "{" .. entry("w", "F32", {0}, 8, 4) .. "}", F32x2,
          "tensor 'w' data_offsets [8,4] end before they begin")
  hostile("offsets3", '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}', F32x2,
          "tensor 'w' data_offsets is not [begin, end]")
  hostile("offsets1", '{"w":{"dtype":"F32","shape":[2],"data_offsets":[8]}}', F32x2,
          "tensor 'w' data_offsets is not [begin, end]")
  hostile("negoff", '{"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}', F32x2,
          "tensor 'w' has a negative data offset (-8)")
  hostile("bigoff", "{" .. entry("w", "F32", {2}, 9223372036854775799, 9223372036854775807) ..
          "}", F32x2,
          "tensor 'w' data_offsets [9223372036854775799,9223372036854775807] exceed the " ..
          "8-byte buffer (is the file truncated?)")
end

function TestSafetensorsHostile:test_truncated_data()
  local full = stfile("{" .. entry("a", "F32", {2}, 0, 8) .. "," ..
                      entry("b", "F32", {2}, 8, 16) .. "}", floats(1, 2, 3, 4))
  local path = tmp("truncdata")
  H.write_file(path, full:sub(1, -3))
  lu.assertEquals(load_error(path), "load: " .. path ..
    ": tensor 'b' data_offsets [8,16] exceed the 14-byte buffer (is the file truncated?)")
end

function TestSafetensorsHostile:test_overlap_and_gaps()
  hostile("overlap", "{" .. entry("a", "F32", {2}, 0, 8) .. "," .. entry("b", "F32", {1}, 4, 8) ..
          "}", F32x2, "tensors 'a' and 'b' overlap in the buffer")
  hostile("alias", "{" .. entry("a", "F32", {2}, 0, 8) .. "," .. entry("b", "F32", {2}, 0, 8) ..
          "}", F32x2, "tensors 'a' and 'b' overlap in the buffer")
  hostile("gap", "{" .. entry("a", "F32", {1}, 4, 8) .. "}", F32x2,
          "buffer bytes [0,4) belong to no tensor")
  hostile("extra", "{" .. entry("a", "F32", {1}, 0, 4) .. "}", F32x2,
          "buffer bytes [4,8) belong to no tensor")
end

function TestSafetensorsHostile:test_duplicates()
  hostile("dupkey", "{" .. entry("w", "F32", {1}, 0, 4) .. "," .. entry("w", "F32", {1}, 4, 8) ..
          "}", F32x2, "duplicate tensor name 'w'")
  hostile("dupmeta", '{"__metadata__":{"k":"1","k":"2"}}', "", "duplicate metadata key 'k'")
  hostile("twometa", '{"__metadata__":{},"__metadata__":{}}', "", "__metadata__ appears twice")
end

function TestSafetensorsHostile:test_bad_metadata()
  hostile("metanum", '{"__metadata__":{"epoch":3}}', "", "metadata value for 'epoch' is not a string")
  hostile("metanest", '{"__metadata__":{"a":{"b":"c"}}}', "", "metadata value for 'a' is not a string")
  hostile("metaarr", '{"__metadata__":["a"]}', "", "__metadata__ is not an object")
end

function TestSafetensorsHostile:test_deep_nesting()
  local deep = string.rep("[", 100000) .. string.rep("]", 100000)
  hostile("deep", '{"w":{"dtype":"F32","x":' .. deep .. '}}', "",
          "invalid header JSON at byte 87: nesting deeper than 64 levels")
  hostile("deeptop", '{"w":' .. deep .. '}', "", "tensor 'w' is not an object")
  local ok = string.rep("[", 60) .. string.rep("]", 60)
  local path = tmp("deepok")
  H.write_file(path, stfile('{"w":{"dtype":"F32","shape":[],"data_offsets":[0,4],"x":' .. ok .. '}}',
                     floats(5)))
  lu.assertEquals(lunet.load(path).w:item(), 5)
end

function TestSafetensorsHostile:test_names_in_messages_are_tamed()
  local name = string.rep("n", 5000)
  hostile("longname", "{" .. entry(name, "F32", {3}, 0, 8) .. "}", F32x2,
          "tensor '" .. string.rep("n", 56) .. "...' (F32 {3}) needs 12 bytes but " ..
          "data_offsets [0,8] hold 8")
  hostile("ctrlname", "{" .. entry("a\\u0001\\nb", "F32", {3}, 0, 8) .. "}", F32x2,
          "tensor 'a\\x01\\x0ab' (F32 {3}) needs 12 bytes but data_offsets [0,8] hold 8")
end

-- names and metadata must be UTF-8, as the reference implementation and
-- Python's json require: stray bytes, overlong forms, surrogates, code
-- points past U+10FFFF and cut sequences are refused where they stand
function TestSafetensorsHostile:test_text_must_be_utf8()
  local function bad(name, header, at)
    hostile(name, header, F32x2, "invalid header JSON at byte " .. at .. ": a string is not valid UTF-8")
  end
  local e = ':{"dtype":"F32","shape":[2],"data_offsets":[0,8]}'
  bad("u8stray", '{"w\xff"' .. e .. '}', 3)
  bad("u8cont", '{"\x80w"' .. e .. '}', 2)
  bad("u8overlong", '{"\xc0\xaf"' .. e .. '}', 2)
  bad("u8overlong3", '{"\xe0\x80\xaf"' .. e .. '}', 2)
  bad("u8surrogate", '{"a\xed\xa0\x80"' .. e .. '}', 3)
  bad("u8toobig", '{"\xf4\x90\x80\x80"' .. e .. '}', 2)
  bad("u8cut", '{"ab\xe6\x97"' .. e .. '}', 4)
  bad("u8metakey", '{"__metadata__":{"k\xfe":"v"},"w"' .. e .. '}', 19)
  bad("u8metaval", '{"__metadata__":{"k":"v\xc3"},"w"' .. e .. '}', 23)
  bad("u8field", '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"\xff":1}}', 54)
  -- and all of Unicode is welcome, up to four bytes a character
  local path = tmp("u8ok")
  local names = { "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf" }
  local header = {}
  for i, n in ipairs(names) do header[i] = entry(n, "F32", {1}, 4 * (i - 1), 4 * i) end
  H.write_file(path, stfile("{" .. table.concat(header, ",") .. "}", floats(1, 2, 3, 4)))
  local t = lunet.load(path)
  for i, n in ipairs(names) do lu.assertEquals(t[n]:item(), i, n) end
end

----------------------------------------------------------------- failed saves

TestSafetensorsSave = {}

local function save_error(...)
  local ok, err = pcall(lunet.save, ...)
  lu.assertFalse(ok)
  return err
end

function TestSafetensorsSave:test_missing_directory()
  local path = TMP .. "/no/such/dir/x.safetensors"
  -- the message names the path asked for, not the temporary file beside it
  lu.assertEquals(save_error(path, {x = lunet.ones{2}}),
                  "save: " .. path .. ": cannot create it: No such file or directory")
end

function TestSafetensorsSave:test_bad_table_leaves_old_file()
  local path = tmp("keep")
  lunet.save(path, {x = lunet.tensor{1, 2, 3}})
  local before = H.read_file(path)
  lu.assertEquals(save_error(path, {x = lunet.ones{2}, y = 42}),
                  "save: 'y' is not a tensor (got number)")
  lu.assertEquals(save_error(path, {lunet.ones{2}}),
                  "save: tensor name must be a string, got a number")
  lu.assertEquals(save_error(path, {x = lunet.ones{2}}, {epoch = 3}),
                  "save: metadata value for 'epoch' must be a string, got number")
  lu.assertEquals(save_error(path, {["a\0b"] = lunet.ones{2}}),
                  "save: tensor name 'a' contains a NUL byte")
  lu.assertEquals(save_error(path, {__metadata__ = lunet.ones{2}}), "save: " .. path ..
                  ": '__metadata__' is reserved and cannot name a tensor")
  lu.assertStrContains(save_error(path, 42), "table expected, got number")
  lu.assertEquals(H.read_file(path), before)
  lu.assertEquals(H.temporaries(path), {})
  lu.assertEquals(lunet.load(path).x:totable(), {1, 2, 3})
end

-- what the loader refuses the saver never writes, and says why
function TestSafetensorsSave:test_text_must_be_utf8()
  local path = tmp("u8save")
  lunet.save(path, { x = lunet.ones { 2 } })
  local before = H.read_file(path)
  lu.assertEquals(save_error(path, { ["w\xff"] = lunet.ones { 2 } }),
                  "save: " .. path .. ": tensor name 'w\\xff' is not valid UTF-8")
  lu.assertEquals(save_error(path, { x = lunet.ones { 2 } }, { ["\xed\xa0\x80"] = "v" }),
                  "save: " .. path .. ": metadata key '\\xed\\xa0\\x80' is not valid UTF-8")
  lu.assertEquals(save_error(path, { x = lunet.ones { 2 } }, { note = "caf\xc3" }),
                  "save: " .. path .. ": metadata value for 'note' is not valid UTF-8: 'caf\\xc3'")
  lu.assertEquals(H.read_file(path), before)
  lu.assertEquals(H.temporaries(path), {})
  lunet.save(path, { ["caf\xc3\xa9"] = lunet.ones { 2 } }, { ["\xf0\x9f\x98\x80"] = "\xe6\x97\xa5" })
  local t, meta = lunet.load(path)
  lu.assertEquals(t["caf\xc3\xa9"]:totable(), { 1, 1 })
  lu.assertEquals(meta["\xf0\x9f\x98\x80"], "\xe6\x97\xa5")
end

function TestSafetensorsSave:test_failed_rename_leaves_no_tmp()
  local dir = TMP .. "/st_isdir"
  os.execute("mkdir -p " .. dir)
  local err = save_error(dir, {x = lunet.ones{2}})
  lu.assertStrContains(err, "save: " .. dir .. ": cannot replace it: ")
  lu.assertNotStrContains(err, ".tmp-")
  lu.assertEquals(H.temporaries(dir), {})
end
