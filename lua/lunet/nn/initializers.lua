--[[
nn.init: PyTorch's weight initialisers, writing a tensor in place (under
no_grad, so parameters can be initialised) and returning it.

  init.uniform_(t, a=0, b=1)         init.normal_(t, mean=0, std=1)
  init.constant_(t, v)  init.zeros_(t)  init.ones_(t)
  init.xavier_uniform_(t, gain=1)    U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))
  init.xavier_normal_(t, gain=1)     N(0, gain * sqrt(2 / (fan_in + fan_out)))
  init.kaiming_uniform_(t, {a=0, mode='fan_in', nonlinearity='leaky_relu'})
                                     U(-b, b), b = gain * sqrt(3 / fan)
  init.kaiming_normal_(t, {...})     N(0, gain / sqrt(fan))
  init.trunc_normal_(t, mean=0, std=1, a=-2, b=2)   N(mean, std) cut to [a, b]
  init.calculate_gain(nonlinearity, param)
  init.fans(t) -> fan_in, fan_out

Fans follow PyTorch: for a {out, in, k...} weight, fan_in = in * prod(k),
fan_out = out * prod(k).  Every draw comes from lunet's one generator.
]]
local lunet = require "lunet"
local util = require "lunet.util"

local init = {}

local function fail(op, fmt, ...)
  util.fail("init." .. op, fmt, ...)
end

local function check_tensor(op, t)
  if not lunet.is_tensor(t) then fail(op, "expected a tensor, got %s", type(t)) end
  if t.dtype ~= "float32" then fail(op, "initialises float32 tensors, got %s", t.dtype) end
end

local function write(op, t, fn)
  check_tensor(op, t)
  lunet.no_grad(fn)
  return t
end

-- init.fans(t) -> fan_in, fan_out of a weight, as PyTorch counts them
function init.fans(t)
  local shape = t:shape()
  if #shape < 2 then
    fail("fans", "fan in and fan out need at least 2 dims, got a %d-d tensor", #shape)
  end
  local receptive = 1
  for d = 3, #shape do receptive = receptive * shape[d] end
  return shape[2] * receptive, shape[1] * receptive
end

local GAINS = {
  linear = 1, identity = 1, sigmoid = 1, conv1d = 1, conv2d = 1, conv3d = 1,
  tanh = 5 / 3, relu = math.sqrt(2), selu = 3 / 4,
}

-- init.calculate_gain(nonlinearity [, param]) -> PyTorch's recommended gain
function init.calculate_gain(nonlinearity, param)
  if nonlinearity == "leaky_relu" then
    local slope = param or 0.01
    return math.sqrt(2 / (1 + slope * slope))
  end
  local g = GAINS[nonlinearity]
  if g == nil then fail("calculate_gain", "unsupported nonlinearity '%s'", tostring(nonlinearity)) end
  return g
end

-- init.uniform_(t [, a=0, b=1]) -> t, uniform in [a, b)
function init.uniform_(t, a, b)
  return write("uniform_", t, function() t:uniform_(a or 0, b or 1) end)
end

-- init.normal_(t [, mean=0, std=1]) -> t, normal draws
function init.normal_(t, mean, std)
  return write("normal_", t, function() t:normal_(mean or 0, std or 1) end)
end

-- init.constant_(t, v) -> t, every element v
function init.constant_(t, v)
  if type(v) ~= "number" then fail("constant_", "value must be a number, got %s", type(v)) end
  return write("constant_", t, function() t:fill_(v) end)
end

-- init.zeros_(t) -> t, zeroed
function init.zeros_(t) return write("zeros_", t, function() t:fill_(0) end) end
-- init.ones_(t) -> t, all ones
function init.ones_(t) return write("ones_", t, function() t:fill_(1) end) end

-- init.xavier_uniform_(t [, gain=1]) -> t, U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))
function init.xavier_uniform_(t, gain)
  check_tensor("xavier_uniform_", t)
  local fin, fout = init.fans(t)
  local b = (gain or 1) * math.sqrt(6 / (fin + fout))
  return init.uniform_(t, -b, b)
end

-- init.xavier_normal_(t [, gain=1]) -> t, N(0, gain * sqrt(2 / (fan_in + fan_out)))
function init.xavier_normal_(t, gain)
  check_tensor("xavier_normal_", t)
  local fin, fout = init.fans(t)
  return init.normal_(t, 0, (gain or 1) * math.sqrt(2 / (fin + fout)))
end

-- the fan and gain kaiming_* use: opts {a=0, mode='fan_in', nonlinearity='leaky_relu'}
local function kaiming(op, t, o)
  check_tensor(op, t)
  o = util.check_options("init." .. op, o or {}, { "a", "mode", "nonlinearity" })
  local mode = o.mode or "fan_in"
  if mode ~= "fan_in" and mode ~= "fan_out" then
    fail(op, "mode must be 'fan_in' or 'fan_out', got '%s'", tostring(mode))
  end
  local fin, fout = init.fans(t)
  local gain = init.calculate_gain(o.nonlinearity or "leaky_relu", o.a or 0)
  return mode == "fan_in" and fin or fout, gain
end

-- init.kaiming_uniform_(t [, {a=0, mode='fan_in', nonlinearity='leaky_relu'}]) -> t,
-- U(-b, b), b = gain * sqrt(3 / fan)
function init.kaiming_uniform_(t, o)
  local fan, gain = kaiming("kaiming_uniform_", t, o)
  local b = gain * math.sqrt(3 / fan)
  return init.uniform_(t, -b, b)
end

-- init.kaiming_normal_(t [, {a=0, mode='fan_in', nonlinearity='leaky_relu'}]) -> t,
-- N(0, gain / sqrt(fan))
function init.kaiming_normal_(t, o)
  local fan, gain = kaiming("kaiming_normal_", t, o)
  return init.normal_(t, 0, gain / math.sqrt(fan))
end

-- normal draws redrawn until they land in [a, b]: exactly the truncated
-- normal (PyTorch inverts the CDF instead; the distribution is the same)
function init.trunc_normal_(t, mean, std, a, b)
  mean, std, a, b = mean or 0, std or 1, a or -2, b or 2
  if not (a < b) then fail("trunc_normal_", "a (%g) must be below b (%g)", a, b) end
  if not (std > 0) then fail("trunc_normal_", "std must be > 0, got %g", std) end
  local p = (b - mean) / std
  local q = (a - mean) / std
  if p < -6 or q > 6 then
    fail("trunc_normal_", "[%g, %g] is more than 6 std from the mean %g", a, b, mean)
  end
  return write("trunc_normal_", t, function()
    local n = t:numel()
    local flat = lunet.empty{ n }
    local filled = 0
    while filled < n do
      local draw = lunet.randn{ n - filled } * std + mean
      local keep = draw[draw:ge(a) & draw:le(b)]
      local k = keep:numel()
      if k > 0 then flat:narrow(1, filled + 1, k):copy_(keep); filled = filled + k end
    end
    t:copy_(flat:view(t:shape()))
  end)
end

return init
