-- lunet.nn: modules, layers and the seeds' attention variants.
local Module = require "lunet.nn.module"
local act = require "lunet.nn.activation"

local nn = {
  Module = Module,
  Parameter = Module.Parameter,
  Linear = require "lunet.nn.linear",
  Embedding = require "lunet.nn.embedding",
  LayerNorm = require "lunet.nn.layer_norm",
  RMSNorm = require "lunet.nn.rms_norm",
  Dropout = require "lunet.nn.dropout",
  GELU = act.GELU, SiLU = act.SiLU, ReLU = act.ReLU,
  ModuleList = require "lunet.nn.module_list",
  Sequential = require "lunet.nn.sequential",
  MLP = require "lunet.nn.mlp",
  RotaryEmbedding = require "lunet.nn.rotary_embedding",
  MultiHeadAttention = require "lunet.nn.multi_head_attention",
  MultiQueryAttention = require "lunet.nn.multi_query_attention",
  GroupedQueryAttention = require "lunet.nn.grouped_query_attention",
  MultiHeadLatentAttention = require "lunet.nn.multi_head_latent_attention",
  GatedLatentAttention = require "lunet.nn.gated_latent_attention",
  TransformerBlock = require "lunet.nn.transformer_block",
  TransformerLM = require "lunet.nn.transformer_lm",
  functional = require "lunet.nn.functional",
  Identity = require "lunet.nn.identity",
  ModuleDict = require "lunet.nn.module_dict",
  ParameterList = require "lunet.nn.parameter_list",
  init = require "lunet.nn.initializers",
}
do
  local sm = require "lunet.nn.softmax"
  nn.Softmax, nn.LogSoftmax = sm.Softmax, sm.LogSoftmax
end

nn.MHA = nn.MultiHeadAttention
nn.MQA = nn.MultiQueryAttention
nn.GQA = nn.GroupedQueryAttention
nn.MLA = nn.MultiHeadLatentAttention
nn.GatedAttention = nn.GatedLatentAttention

return nn
