-- A stand-in trainer for sweep_spec: each point's "run" is a formula, so
-- the best learning rate on held-out data is known in advance.  Variant
-- "a" is best at lr 1e-3 and "b" at 1e-2 on the validation loss, while
-- the training loss always favours the largest lr (so a sweep that picked
-- on training loss would choose wrongly).
local fake = {}

fake.BEST = { a = 1e-3, b = 1e-2 }

function fake.run_point(spec, point)
  local best = fake.BEST[point.variant]
  local off = math.abs(math.log(point.lr / best, 10))       -- decades from the best lr
  local curve = {}
  for i = 1, 10 do
    local step = 10 * i
    -- at the best lr, seed s reaches 0.9 validation accuracy at step 20 s
    -- (variant a's seed 3 never does); elsewhere it stays low
    local acc = off == 0 and math.min(1, 0.9 * step / (20 * point.seed)) or 0.2
    if point.variant == "a" and point.seed == 3 then acc = math.min(acc, 0.8) end
    curve[i] = { step = step, loss = 1 - point.lr * i, acc = acc,
                 val_loss = 1 + off + 0.01 * point.seed + (10 - i) * 0.1, val_acc = acc }
  end
  return {
    variant = point.variant, lr = point.lr, seed = point.seed, params = 100, kv = 8, curve = curve,
    test_loss = 1 + off + 0.05, test_acc = off == 0 and 0.5 + 0.1 * point.seed or 0.1, wall = 0,
  }
end

return fake
