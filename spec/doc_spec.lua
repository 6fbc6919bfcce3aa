-- lunet.doc: every public name documented, names resolved as typed, the
-- help text of values, and the README's API index made from it.
local lu = require "luaunit"
local H = require "helpers"
local lunet = require "lunet"
local doc = require "lunet.doc"

TestDoc = {}

function TestDoc:test_every_public_name_is_documented()
  local names, undocumented = {}, {}
  for _, e in ipairs(doc.catalogue()) do
    names[e.name] = true
    local text = doc.entry_text_of(e.name)
    if not text or #text < 10 then undocumented[#undocumented + 1] = e.name end
  end
  lu.assertEquals(undocumented, {})
  -- the catalogue covers every area the REPL user meets
  for _, n in ipairs { "lunet.zeros", "lunet.Tensor:view", "lunet.nn.Linear", "lunet.nn.Module:parameters",
                       "lunet.nn.TransformerLM:generate", "lunet.optim.AdamW", "lunet.optim.Optimizer:step",
                       "lunet.optim.schedule.warmup_cosine", "lunet.data.mqar", "lunet.data.Task:batch",
                       "lunet.profile.summary", "lunet.train", "lunet.train.evaluate", "lunet.compare",
                       "lunet.sweep.run", "lunet.plot.curves", "lunet.autograd.grad", "lunet.inspect",
                       "lunet.save_checkpoint", "lunet.progress.new", "lunet.cli.parser" } do
    lu.assertTrue(names[n], n)
  end
  -- a C function and its method are one entry; aliases are not listed twice
  lu.assertNil(names["lunet.Tensor:matmul"])
  lu.assertNil(names["lunet.nn.MHA"])
  -- nothing private is listed
  for n in pairs(names) do lu.assertNil(n:find("[.:]_"), n) end
end

function TestDoc:test_resolve_names_as_typed()
  lu.assertEquals(doc.resolve("lunet.zeros"), "lunet.zeros")
  lu.assertEquals(doc.resolve("zeros"), "lunet.zeros")
  lu.assertEquals(doc.resolve("nn.Linear"), "lunet.nn.Linear")
  lu.assertEquals(doc.resolve("lunet.nn.MHA"), "lunet.nn.MultiHeadAttention")
  lu.assertEquals(doc.resolve("lunet.Tensor.matmul"), "lunet.matmul")
  lu.assertEquals(doc.resolve("optim.AdamW"), "lunet.optim.AdamW")
  lu.assertEquals(doc.resolve("warmup_cosine"), "lunet.optim.schedule.warmup_cosine")
  lu.assertEquals(doc.resolve("lunet.zeros()"), "lunet.zeros")
  local name, candidates = doc.resolve("format")           -- compare.format and sweep.format
  lu.assertNil(name)
  lu.assertTrue(#candidates >= 2)
  lu.assertNil((doc.resolve("no_such_name_at_all")))
  -- values reachable from the globals: an instance's methods, inherited ones too
  H.with_globals({ spec_doc_m = lunet.nn.Linear(2, 3), spec_doc_x = lunet.zeros { 2 } }, function()
    lu.assertEquals(doc.resolve("spec_doc_m"), "lunet.nn.Linear")
    lu.assertEquals(doc.resolve("spec_doc_m:parameters"), "lunet.nn.Module:parameters")
    lu.assertEquals(doc.resolve("spec_doc_x:view"), "lunet.Tensor:view")
    lu.assertEquals(doc.resolve("spec_doc_x:exp"), "lunet.exp")
  end)
end

function TestDoc:test_help_texts()
  local t = doc.text(lunet.nn.Linear(2, 3))
  lu.assertStrContains(t, "lunet.nn.Linear\n===============\nnn.Linear{in_features, out_features, bias=true}")
  lu.assertStrContains(t, "Methods:")
  lu.assertStrContains(t, ":state_dict")                      -- inherited, listed
  t = doc.text(lunet.zeros { 1 })
  lu.assertStrContains(t, "lunet.Tensor\n")
  lu.assertStrContains(t, ":view")
  t = doc.text("lunet.optim")
  lu.assertStrContains(t, "Members:")
  lu.assertStrContains(t, ".AdamW")
  t = doc.text(lunet.optim.AdamW({ lunet.zeros({ 1 }):requires_grad(true) }))   -- an instance
  lu.assertStrContains(t, "torch.optim.AdamW")
  lu.assertStrContains(doc.text(lunet.profile.count), "count(model, input_or_shape")
  lu.assertStrContains(doc.text(lunet.data.mqar { seed = 1 }), "lunet.data.Task")
  local none, why = doc.text({})
  lu.assertNil(none)
  lu.assertStrContains(why, "no documentation for this table")
  none, why = doc.text("format")
  lu.assertStrContains(why, "'format' is ambiguous: ")
end

-- what help says where the audit found it wrong: internals listed as a
-- module's methods, optimisers without methods, help() without
-- lunet.distributed, ?x.grad answered with autograd.grad
function TestDoc:test_help_lists_what_a_user_calls()
  local t = doc.text(lunet.nn.Linear(2, 3))
  for _, k in ipairs { "check_positive", "fail", "extend", "format_options", "parse_options", "op",
                       "module_path", "collect_state", "shape_str", "keys" } do
    lu.assertNil(t:find("  [.:]" .. k .. " ", 1), k)
  end
  local names = {}
  for _, e in ipairs(doc.catalogue()) do names[e.name] = true end
  for _, k in ipairs { "check_positive", "format_options", "parse_options", "module_path", "collect_state", "shape_str" } do
    lu.assertNil(names["lunet.nn.Module:" .. k] or names["lunet.nn.Module." .. k], k)
  end
  lu.assertTrue(names["lunet.nn.Module:extend"] or names["lunet.nn.Module.extend"])   -- documented, on the class
  t = doc.text(lunet.optim.AdamW)
  for _, k in ipairs { ":step", ":zero_grad", ":state_dict", ":load_state_dict", ":set_lr" } do
    lu.assertStrContains(t, "  " .. k .. " ")
  end
  lu.assertNil(t:find(":check_groups", 1, true))
  local intro = doc.intro()
  for _, ns in ipairs(doc.NAMESPACES) do lu.assertNotNil(intro:find(ns .. "[,.]"), ns) end
  H.with_globals({ spec_doc_x = lunet.zeros { 2 } }, function()
    lu.assertEquals(doc.resolve("spec_doc_x.grad"), "lunet.Tensor.grad")
    spec_doc_x.grad = lunet.ones { 2 }                        -- holding a tensor: still the field
    lu.assertEquals(doc.resolve("spec_doc_x.grad"), "lunet.Tensor.grad")
    lu.assertEquals(doc.resolve("spec_doc_x.dtype"), "lunet.Tensor.dtype")
  end)
  lu.assertStrContains(doc.text("lunet.Tensor.grad"), "accumulated")
  lu.assertStrContains(doc.text("lunet.autograd.grad"), "torch.autograd.grad")
  lu.assertNil(doc.text("lunet.autograd.grad"):find("top of this file", 1, true))
  lu.assertStrContains(doc.text("lunet.data.tasks"), "data.make")
end

-- the comment reader: --[[ ]] blocks and runs of -- lines, not rules
function TestDoc:test_comments_are_read_from_the_source()
  local path = H.temp_file([==[
-- the file's own comment
-- on two lines
local M = {}

-- ---------------------------------------------------------------- a rule

--[[
M.f(x) -> y: a block
  indented
]]
function M.f(x) return x end

-- M.g: one line
-- and another
function M.g() end

local x = 1
function M.h() end

return M
]==])
  local M = dofile(path)
  local function text(f) return doc.comment_above("@" .. path, debug.getinfo(f, "S").linedefined) end
  lu.assertEquals(text(M.f), "M.f(x) -> y: a block\n  indented")
  lu.assertEquals(text(M.g), "M.g: one line\nand another")
  lu.assertNil(text(M.h))
  lu.assertEquals(doc.file_comment(path), "the file's own comment\non two lines")
  os.remove(path)
end

function TestDoc:test_readme_api_index_is_up_to_date()
  local readme = assert(H.read_file("../README.md"))
  local index = readme:match("<!%-%- api%-index %-%->\n(.-)\n<!%-%- /api%-index %-%->")
  lu.assertNotNil(index, "README.md has no api-index block")
  lu.assertEquals(index, doc.markdown_index(), "README's API index is stale: run make api")
  -- and so every documented name is in the README
  for _, e in ipairs(doc.catalogue()) do
    local short = e.name:match("[.:]([%w_]+)$") or e.name
    lu.assertNotNil(readme:find("`" .. short .. "`", 1, true) or readme:find(short, 1, true), e.name)
  end
end
