-- Write the API index (lunet.doc.markdown_index) into README.md between
-- the lines "<!-- api-index -->" and "<!-- /api-index -->".
--   build/bin/lunet tools/api_index.lua [README.md]        (make api)
local doc = require "lunet.doc"
local path = arg[1] or "README.md"
local f = assert(io.open(path, "r"))
local text = f:read("a")
f:close()
local head, tail = text:match("^(.-<!%-%- api%-index %-%->\n).-(<!%-%- /api%-index %-%->.*)$")
if not head then
  io.stderr:write(path, ": no <!-- api-index --> ... <!-- /api-index --> block\n")
  os.exit(1)
end
f = assert(io.open(path, "w"))
f:write(head, doc.markdown_index(), "\n", tail)
f:close()
