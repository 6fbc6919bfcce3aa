-- `make install` under a custom prefix, used exactly as README.md's
-- "Installing" section says (its shell block is run, with a temporary
-- directory for $HOME/.local), then `make uninstall`.
local lu = require "luaunit"
local H = require "helpers"

TestInstall = {}

function TestInstall:test_readme_install_block_works_and_uninstall_cleans_up()
  lu.skipIf(os.getenv("LUNET_PROGRAM") == nil or os.getenv("LUNET_SANITIZE"),
            "runs in make test (it installs the regular build)")
  local readme = assert(H.read_file("../README.md"))
  local block = readme:match("### Installing.-```sh\n(.-)```")
  lu.assertNotNil(block, "README.md: no sh block under ### Installing")
  local root = H.temp_file()
  os.remove(root)
  local prefix = root .. "/local"
  local script = block:gsub("%$HOME/%.local", prefix):gsub("make ", "make -s -C .. ")
  local out, ok = H.sh(string.format("cd /tmp && (mkdir -p %s && set -e; cd %s; %s) 2>&1",
                                     H.q(root), H.q(H.sh("pwd"):gsub("\n$", "")), script))
  -- the block installs, checks with the stock lua5.4 and uninstalls; the
  -- print in the middle shows the tensor
  lu.assertTrue(ok, out)
  lu.assertStrContains(out, "tensor([0., 0.], shape={2})")
  -- uninstall left nothing of lunet behind
  local left = H.sh("find " .. H.q(prefix) .. " -name '*lunet*' 2>/dev/null")
  lu.assertEquals(left, "")
  -- and the program finds its library under any prefix by itself
  out, ok = H.sh(string.format("make -s -C .. install PREFIX=%s >/dev/null 2>&1 && cd / && " ..
                               "env -u LUA_PATH -u LUA_PATH_5_4 %s/bin/lunet -e 'print(package.searchpath(\"lunet\", package.path))'" ..
                               " && make -s -C %s uninstall PREFIX=%s >/dev/null",
                               H.q(prefix), H.q(prefix), H.q(H.sh("cd .. && pwd"):gsub("\n$", "")), H.q(prefix)))
  lu.assertTrue(ok, out)
  lu.assertEquals(out, prefix .. "/share/lua/5.4/lunet/init.lua\n")
  os.execute("rm -rf " .. H.q(root))
end
