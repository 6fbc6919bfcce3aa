--[[
lunet.distributed: several processes working as one, over Open MPI, in
PyTorch's words (torch.distributed).  Launch the same script on N ranks
with mpirun; each process calls dist.init() and finds its rank:

  mpirun -np 2 lunet train.lua          (as root: mpirun --allow-run-as-root ...)

  local dist = require "lunet.distributed"     -- or lunet.distributed
  dist.init()                 -- MPI under mpirun; otherwise one process,
                              --   rank 0 of 1, and every call below is local
  dist.rank(), dist.world_size()
  dist.barrier()
  dist.all_reduce(t [, op])   -- in place on every rank: op "sum" (default),
                              --   "mean", "max" or "min" over the ranks; float32.
                              --   t may be a list of tensors: one message for all
  dist.broadcast(t [, root])  -- root's values into t on every rank (any dtype;
                              --   a list too); root defaults to 0
  dist.all_gather(v) -> {v of rank 0, v of rank 1, ...} on every rank
  dist.gather(v [, root]) -> that list on root, nil on the others
  dist.broadcast_object(v [, root]) -> root's v on every rank
  dist.finalize()             -- optional: it also happens at exit
  dist.is_initialized(), dist.is_available() (can MPI run here?), dist.backend()
  dist.DistributedDataParallel(model [, {bucket_cap_mb = 25}])   (ddp.lua)

Ranks are 0-based, as in MPI and PyTorch: a rank is the name of a process
(rank 0 leads: it prints and writes), not a position in a Lua list, so
that a script, mpirun's messages (-np, "rank 1 exited") and a PyTorch
user all mean the same process by the same number.  Lists of per-rank
values are Lua lists, so rank r's value is at index r + 1.

Values for all_gather, gather and broadcast_object are numbers, strings,
booleans and tables of them (serialised as text; a number comes back
exactly).  Every rank must make the same collective calls in the same
order, with tensors of the same sizes, as in MPI.

Under mpirun (OMPI_COMM_WORLD_SIZE or PMI_SIZE set) dist.init() loads the
C module lunet.mpi (build/lunet/mpi.so, built when mpicc is installed)
and says so if it is missing, rather than run N copies of one job.

Faults: a rank whose script fails (a Lua error, os.exit with a non-zero
code) prints its error as usual and then ends every rank through
MPI_Abort, so mpirun exits non-zero instead of the others waiting for it
for ever; a rank that ends well finalizes MPI at exit.
]]
local lunet = require "lunet"
local util = require "lunet.util"

local dist = {}

local C                    -- lunet.mpi once MPI runs
local state = "none"       -- "none", "mpi", "local" (one process), "finalized"
local my_rank, my_size = 0, 1

-- the environment variables a launcher sets for its ranks: Open MPI's
-- mpirun, and the PMI of MPICH, Slurm's srun and others
local function launched_size()
  local n = os.getenv("OMPI_COMM_WORLD_SIZE") or os.getenv("PMI_SIZE")
  return n and tonumber(n)
end

local function fail(op, fmt, ...) util.fail(op, fmt, ...) end

-- can the MPI module be loaded (without loading it)?
function dist.is_available()
  return package.searchpath("lunet.mpi", package.cpath) ~= nil
end

-- dist.init() -> rank, world_size: join the job mpirun started (MPI), or,
-- without mpirun, run as one process, rank 0 of 1.  Again: the same.
function dist.init()
  if state == "mpi" or state == "local" then return my_rank, my_size end
  if state == "finalized" then fail("dist.init", "called after dist.finalize()") end
  local launched = launched_size()
  if launched == nil then
    state, my_rank, my_size = "local", 0, 1
    return my_rank, my_size
  end
  local ok, mod = pcall(require, "lunet.mpi")
  if not ok then
    fail("dist.init", "started by mpirun (%d ranks) but the MPI module lunet.mpi cannot be "
         .. "loaded: build it with make (it needs mpicc: apt-get install libopenmpi-dev "
         .. "openmpi-bin)\n%s", launched, tostring(mod))
  end
  C = mod
  my_rank, my_size = C.init()
  state = "mpi"
  return my_rank, my_size
end

-- has dist.init() run (and dist.finalize() not)?
function dist.is_initialized() return state == "mpi" or state == "local" end

-- "mpi" or "local" (nil before init)
function dist.backend()
  if dist.is_initialized() then return state end
  return nil
end

local function need(op)
  if state == "none" then fail(op, "call dist.init() first") end
  if state == "finalized" then fail(op, "called after dist.finalize()") end
end

-- this process's rank, 0 .. world_size - 1 (0-based, as MPI's and PyTorch's)
function dist.rank() need("dist.rank") return my_rank end

-- the number of ranks in the job (1 without mpirun)
function dist.world_size() need("dist.world_size") return my_size end

-- wait until every rank has called it
function dist.barrier()
  need("dist.barrier")
  if C and my_size > 1 then C.barrier() end
end

-- end MPI in this process (optional: a clean exit does it); no collective
-- can follow
function dist.finalize()
  if state == "mpi" then C.finalize() end
  if state ~= "none" then state = "finalized" end
end

-- ---------------------------------------------------------------- tensors

local OPS = { sum = true, mean = true, max = true, min = true }

-- t: a tensor or a non-empty list of them, each contiguous (and float32
-- when `float`); the same checks with or without MPI
local function check_tensors(op, t, float)
  local list = lunet.is_tensor(t) and { t } or t
  if type(list) ~= "table" or #list == 0 then
    fail(op, "expected a tensor or a list of tensors, got %s", lunet.is_tensor(t) and "tensor" or type(t))
  end
  for i, x in ipairs(list) do
    local what = list == t and string.format("tensor %d of the list", i) or "the tensor"
    if not lunet.is_tensor(x) then fail(op, "%s must be a tensor, got %s", what, type(x)) end
    if float and x.dtype ~= "float32" then fail(op, "%s must be float32, got %s", what, x.dtype) end
    if not x:is_contiguous() then fail(op, "%s must be contiguous (use :contiguous())", what) end
  end
end

local function check_root(op, root)
  root = root or 0
  if math.type(root) ~= "integer" or root < 0 or root >= my_size then
    fail(op, "root must be a rank from 0 to %d (ranks are 0-based), got %s", my_size - 1, tostring(root))
  end
  return root
end

--[[
dist.all_reduce(t [, op = "sum"]) -> t: every rank's t becomes the
reduction over the ranks, in place: "sum", "mean" (the sum / world_size),
"max" or "min".  t is a contiguous float32 tensor, or a list of them sent
as one message (a gradient bucket).
]]
function dist.all_reduce(t, op)
  need("dist.all_reduce")
  op = op or "sum"
  if not OPS[op] then
    fail("dist.all_reduce", "op must be %s, got %s", util.choices { "sum", "mean", "max", "min" }, tostring(op))
  end
  check_tensors("dist.all_reduce", t, true)
  if C and my_size > 1 then C.all_reduce(t, op) end
  return t
end

-- dist.broadcast(t [, root = 0]) -> t: root's values into t on every rank,
-- in place; any dtype; t may be a list of tensors (one message)
function dist.broadcast(t, root)
  need("dist.broadcast")
  check_tensors("dist.broadcast", t, false)
  root = check_root("dist.broadcast", root)
  if C and my_size > 1 then C.broadcast(t, root) end
  return t
end

-- ---------------------------------------------------------------- Lua values

local function pack(op, v) return util.serialize(v, op, "another rank") end

local function unpack_all(list)
  for i, text in ipairs(list) do list[i] = util.deserialize(text, "rank " .. (i - 1)) end
  return list
end

-- dist.all_gather(v) -> {rank 0's v, rank 1's v, ...} on every rank; v is
-- a number, string, boolean or a table of them
function dist.all_gather(v)
  need("dist.all_gather")
  local text = pack("dist.all_gather", v)
  if C and my_size > 1 then return unpack_all(C.gather_bytes(text)) end
  return unpack_all { text }
end

-- dist.gather(v [, root = 0]) -> the list of every rank's v on root, nil on
-- the other ranks
function dist.gather(v, root)
  need("dist.gather")
  local text = pack("dist.gather", v)
  root = check_root("dist.gather", root)
  if C and my_size > 1 then
    local list = C.gather_bytes(text, root)
    return list and unpack_all(list)
  end
  return unpack_all { text }
end

-- dist.broadcast_object(v [, root = 0]) -> root's v on every rank (the
-- others' v is ignored)
function dist.broadcast_object(v, root)
  need("dist.broadcast_object")
  root = check_root("dist.broadcast_object", root)
  local text = my_rank == root and pack("dist.broadcast_object", v) or ""
  if C and my_size > 1 then text = C.broadcast_bytes(text, root) end
  return util.deserialize(text, "rank " .. root)
end

-- ---------------------------------------------------------------- data parallel

-- what lunet.train asks: for a DistributedDataParallel model on several
-- ranks, shard a lunet.data task (unless it is already) and say who leads;
-- reduce(win) turns a rank's window sums into the job's (the loss a mean
-- over the ranks; hits, counts and tokens summed; exact, as Lua numbers).
-- Anything else trains alone: {leader = true, size = 1}.
local ALONE = { leader = true, size = 1, reduce = function() end }

local function reduce_window(win)
  local all = dist.all_gather { win.loss, win.hits, win.count, win.tokens }
  local loss, hits, count, tokens = 0, 0, 0, 0
  for _, w in ipairs(all) do
    loss, hits, count, tokens = loss + w[1], hits + w[2], count + w[3], tokens + w[4]
  end
  win.loss, win.hits, win.count, win.tokens = loss / #all, hits, count, tokens
end

function dist._training(model, data)
  if not (type(model) == "table" and model.data_parallel) or my_size == 1 then return ALONE end
  if type(data) == "table" and type(data.shard) == "function" and data.sharding == nil then
    data:shard(my_rank, my_size)
  end
  return { leader = my_rank == 0, size = my_size, reduce = reduce_window }
end

-- DistributedDataParallel (and DDP) load on first use
setmetatable(dist, {
  __lazy = { DistributedDataParallel = true, DDP = true },   -- for completion and lunet.doc
  __index = function(t, k)
    if k == "DistributedDataParallel" or k == "DDP" then
      local DDP = require "lunet.distributed.ddp"
      rawset(t, "DistributedDataParallel", DDP)
      rawset(t, "DDP", DDP)
      return DDP
    end
  end,
})

return dist
