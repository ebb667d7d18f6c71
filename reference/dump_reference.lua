--[[
dump_reference.lua: run a Torch7 model and save what `t7convert parity --reference` compares with.

    th dump_reference.lua model.t7 out.ref.t7 [image.jpg]

Writes the table {input = FloatTensor, output = FloatTensor, stages = {...}}:
  * input:  the batch the model ran on. Without an image, a seeded standard-normal batch of the size
            the model takes (see DUMP_INPUT_SIZE). With an image, fb.resnet.torch's
            pretrained/classify.lua preprocessing: image.load(path, 3, 'float'), Scale(256) (shorter
            side to 256, bicubic), ColorNormalize (ImageNet mean/std), CenterCrop(224), as a batch of
            one; a model that takes another size is refused (that transform is ImageNet's).
  * output: the model's output in evaluate mode (model:evaluate(), float, on the CPU).
  * stages: stages[i] = model.modules[i].output for the FIRST sample (a 1-D output whole: a batch of one
            whose batch dimension a View dropped), read after the forward pass.
            Torch7 modules share tensors, so a module followed by an in-place layer holds that layer's
            result (a BatchNorm before ReLU(true) ends up holding the ReLU's output); t7convert knows
            this. A stage whose output is not a tensor is stored as an empty table.

Options (environment variables):
  DUMP_INPUT=SPEC        the model's input in t7convert's notation (its --input): 784, 96x1, 3x32x32, a
                         table '{13, 128x3}', indices 'idx[1..90] x 50' (a LongTensor; 'float idx[..]'
                         and 'byte idx[..]' for other types), nested tables. A batch of DUMP_BATCH goes
                         in front of every tensor when the model runs on that, else one sample is fed
                         as written (models that take one sample only).
  DUMP_INPUT_SIZE=C,H,W  the size of one sample, comma-separated, any rank (3,32,32; 784 for a vector).
                         Unset: derived from the model as t7convert derives it (t7convert's
                         conversion/input_plan.py): what the first layer declares (a Linear's or a
                         fixed View's feature vector: the whole size; a convolution's or batch
                         normalization's planes: C), the height and width a final average pooling
                         implies (its kernel times the strides before it: 224 for ImageNet ResNets, 32
                         for CIFAR ones), else the first common size (224, 32, 28, 64, ...) that a
                         trial forward of a batch of 2 maps to 2 outputs. When none does, the script
                         stops and asks for DUMP_INPUT_SIZE. Before that, a model saved without
                         clearState() keeps the gradInput of its last batch: its shape is taken
                         as it is (a tensor or a table of them), as t7convert takes it first.
  DUMP_BATCH=N           samples in the random batch (default 1).
  DUMP_SEED=N            torch.manualSeed before drawing the batch (default 0).
  DUMP_CUDA_AS_CPU=0     do not read torch.CudaTensor/CudaStorage (and CudaDouble..., CudaLong...,
                         CudaByte...) as their CPU twins. By default they are: cutorch writes the same
                         bytes as the CPU class of the same element type (FloatTensor for CudaTensor),
                         so a file saved from the GPU loads without cutorch or a GPU.

Everything runs on the CPU in float. cudnn modules run as their nn twins, with the same fields:
cudnn.SpatialConvolution group by group (weight nOutputPlane x nInputPlane/groups x kH x kW),
SpatialFullConvolution, VolumetricConvolution, VolumetricFullConvolution, TemporalConvolution (its
kH/dH/padH are the time kernel, step and zero padding); ReLU, ClippedReLU (HardTanh(0, ceiling)),
Tanh, Sigmoid (in place when `inplace` is set, as cudnn does); the pooling classes through nn's
(average pooling always dividing by the window including padding, as cudnn.torch does); the batch
normalizations through nn's; SoftMax/LogSoftMax over all of each sample's values (cudnn's instance
mode), SpatialSoftMax/SpatialLogSoftMax over the planes at each position (channel mode),
Volumetric(Log)SoftMax over the planes of each voxel; SpatialCrossMapLRN as nn's. cudnn's RNN classes,
SpatialDivisiveNormalization and the criterions have no nn twin: a model using them is refused in one
line. Neither CUDA nor cudnn.torch nor cunn is needed: when they are not installed, stand-ins for
their classes are declared so that torch.load can build the objects; an nn.DataParallelTable is
unwrapped to its first replica, as fb.resnet.torch's checkpoints.lua does. Lua functions serialized
by another Lua build ("cannot load incompatible bytecode") load as placeholders that fail if called:
a model's forward needs none of them. One known difference from a GPU run: in ceil mode with padding,
cudnn.torch may give pooling one more output row or column than nn's kernels (THNN drops a last
window that would start in the padding); ResNet/ResNeXt models do not pool that way.
--]]

require 'torch'
require 'nn'

local unpack = table.unpack or unpack

local modelPath, outPath, imagePath = arg[1], arg[2], arg[3]
if not modelPath or not outPath then
   io.stderr:write('usage: th dump_reference.lua model.t7 out.ref.t7 [image.jpg]\n')
   os.exit(2)
end

local function refuse(message)
   io.stderr:write('dump_reference.lua: ' .. message .. '\n')
   os.exit(1)
end

-- options ----------------------------------------------------------------------------------------
local function integerOption(name, default, minimum)
   local text = os.getenv(name)
   if text == nil or text == '' then return default end
   local n = tonumber(text)
   if not n or n ~= math.floor(n) or n < minimum then
      refuse(string.format('%s=%s: expected an integer of at least %d', name, text, minimum))
   end
   return n
end

local function sizeOption(name)
   local text = os.getenv(name)
   if text == nil or text == '' then return nil end
   local sizes = {}
   for part in (text .. ','):gmatch('([^,]*),') do
      local n = tonumber(part)
      if not n or n ~= math.floor(n) or n < 1 then
         refuse(string.format('%s=%s: expected positive sizes separated by commas (3,224,224)', name, text))
      end
      sizes[#sizes + 1] = n
   end
   return sizes
end

-- the input grammar of t7convert (t7convert/conversion/input_spec.py): 784, 96x1, 3x32x32, {13, 128x3},
-- idx[1..90] x 50, byte idx[0..1] x 5, nested tables. Returns a spec tree, or nil and a message.
local function parseInput(text)
   local pos, depth = 1, 0
   local function skip() pos = text:find('%S', pos) or (#text + 1) end
   local function fail(what) return nil, string.format('%q: %s at character %d', text, what, pos) end
   local parseSpec
   local function dims()
      local sizes = {}
      skip()
      local n = text:match('^%d+', pos)
      if not n then return nil end
      sizes[1] = tonumber(n); pos = pos + #n
      while true do
         local save = pos
         skip()
         if text:sub(pos, pos) ~= 'x' then pos = save; break end
         pos = pos + 1; skip()
         local m = text:match('^%d+', pos)
         if not m then return nil end
         sizes[#sizes + 1] = tonumber(m); pos = pos + #m
      end
      for _, s in ipairs(sizes) do if s < 1 then return nil end end
      return sizes
   end
   parseSpec = function()
      skip()
      if text:sub(pos, pos) == '{' then
         depth = depth + 1
         if depth > 16 then return fail('tables nested more than 16 deep') end
         pos = pos + 1
         local items = {}
         while true do
            skip()
            if text:sub(pos, pos) == '}' then break end
            local item, err = parseSpec()
            if not item then return nil, err end
            items[#items + 1] = item
            skip()
            local c = text:sub(pos, pos)
            if c == ',' then pos = pos + 1 elseif c ~= '}' then return fail("expected ',' or '}'") end
         end
         if #items == 0 then return fail('an empty table') end
         pos = pos + 1
         depth = depth - 1
         return {items = items}
      end
      local types = {float = 'float', double = 'double', long = 'long', int = 'int', byte = 'byte'}
      local word = text:match('^%a+', pos)
      local dtype
      if word and types[word] then dtype = types[word]; pos = pos + #word; skip() end
      local low, high = text:match('^idx%[%s*(%-?%d+)%s*%.%.%s*(%-?%d+)%s*%]', pos)
      if low then
         pos = text:find('%]', pos) + 1
         low, high = tonumber(low), tonumber(high)
         if low > high then return fail('an empty index range') end
         local save = pos
         skip()
         local sizes = {}
         if text:sub(pos, pos) == 'x' then
            pos = pos + 1
            sizes = dims()
            if not sizes then return fail('expected sizes after x') end
         else
            pos = save
         end
         return {sizes = sizes, dtype = dtype or 'long', low = low, high = high}
      end
      if text:match('^%(%s*%)', pos) then
         pos = text:find('%)', pos) + 1
         return {sizes = {}, dtype = dtype or 'float'}
      end
      local sizes = dims()
      if not sizes then return fail('expected sizes (3x32x32), a table ({13, 128x3}) or indices (idx[1..90] x 50)') end
      return {sizes = sizes, dtype = dtype or 'float'}
   end
   local spec, err = parseSpec()
   if not spec then return nil, err end
   skip()
   if pos <= #text then return fail('unexpected text') end
   return spec
end

local inputSize = sizeOption('DUMP_INPUT_SIZE')
local inputSpec
do
   local text = os.getenv('DUMP_INPUT')
   if text and text ~= '' then
      if inputSize then refuse('set DUMP_INPUT or DUMP_INPUT_SIZE, not both') end
      local err
      inputSpec, err = parseInput(text)
      if not inputSpec then refuse('DUMP_INPUT=' .. err) end
   end
end
local batch = integerOption('DUMP_BATCH', 1, 1)
local seed = integerOption('DUMP_SEED', 0, 0)
local cudaAsCpu = os.getenv('DUMP_CUDA_AS_CPU') ~= '0'

-- stand-ins for cudnn.torch and cunn classes --------------------------------------------------------
local function declare(name, parent)
   if not torch.factory(name) then torch.class(name, parent) end
end

if not pcall(require, 'cudnn') then
   cudnn = cudnn or {}  -- torch.class('cudnn.X') needs the global table to put the class in
   -- parents as in cudnn.torch, so that a stand-in reads its file as the real class does (nn's
   -- BatchNormalization and SpatialFullConvolution read methods fill in what older files lack)
   declare('cudnn.SpatialConvolution', 'nn.SpatialConvolution')
   declare('cudnn.SpatialFullConvolution', 'nn.SpatialFullConvolution')
   declare('cudnn.VolumetricConvolution', 'nn.VolumetricConvolution')
   declare('cudnn.VolumetricFullConvolution', 'nn.VolumetricFullConvolution')
   declare('cudnn.TemporalConvolution', 'nn.TemporalConvolution')
   declare('cudnn._Pooling', 'nn.Module')
   declare('cudnn.SpatialMaxPooling', 'cudnn._Pooling')
   declare('cudnn.SpatialAveragePooling', 'cudnn._Pooling')
   declare('cudnn._Pooling3D', 'nn.Module')
   declare('cudnn.VolumetricMaxPooling', 'cudnn._Pooling3D')
   declare('cudnn.VolumetricAveragePooling', 'cudnn._Pooling3D')
   declare('cudnn._Pointwise', 'nn.Module')
   for _, name in ipairs({'ReLU', 'ClippedReLU', 'Tanh', 'Sigmoid'}) do declare('cudnn.' .. name, 'cudnn._Pointwise') end
   declare('cudnn.SpatialSoftMax', 'nn.Module')
   for _, name in ipairs({'SpatialLogSoftMax', 'SoftMax', 'LogSoftMax'}) do
      declare('cudnn.' .. name, 'cudnn.SpatialSoftMax')
   end
   declare('cudnn.VolumetricSoftMax', 'nn.Module')
   declare('cudnn.VolumetricLogSoftMax', 'cudnn.VolumetricSoftMax')
   declare('cudnn.SpatialCrossMapLRN', 'nn.Module')
   declare('cudnn.SpatialDivisiveNormalization', 'nn.Module')
   declare('cudnn.BatchNormalization', 'nn.BatchNormalization')  -- inherits the legacy running_std read
   declare('cudnn.SpatialBatchNormalization', 'cudnn.BatchNormalization')
   declare('cudnn.VolumetricBatchNormalization', 'cudnn.BatchNormalization')
   declare('cudnn.SpatialCrossEntropyCriterion', 'nn.Criterion')
   declare('cudnn.VolumetricCrossEntropyCriterion', 'nn.Criterion')
   declare('cudnn.RNN', 'nn.Module')
   for _, name in ipairs({'RNNTanh', 'RNNReLU', 'LSTM', 'GRU', 'BLSTM', 'BGRU'}) do declare('cudnn.' .. name, 'cudnn.RNN') end
end

if not pcall(require, 'cunn') and not torch.factory('nn.DataParallelTable') then
   local DataParallelTable = torch.class('nn.DataParallelTable', 'nn.Container')
   -- cunn's DataParallelTable:__write (version 2 and later) writes its gpuAssignments, then its fields
   function DataParallelTable:__read(file, version)
      if version >= 2 then self.gpuAssignments = file:readObject() end
      for k, v in pairs(file:readObject()) do self[k] = v end
   end
end

-- loading ------------------------------------------------------------------------------------------
local CUDA_TWINS = {}
for _, element in ipairs({'', 'Double', 'Half', 'Long', 'Int', 'Short', 'Char', 'Byte'}) do
   for _, kind in ipairs({'Tensor', 'Storage'}) do
      CUDA_TWINS['torch.Cuda' .. element .. kind] = 'torch.' .. (element == '' and 'Float' or element) .. kind
   end
end

-- A function to put where one fails to load: as many upvalues as Lua allows, so that File.lua's
-- debug.setupvalue and debug.upvaluejoin calls on it (it reads the upvalues after the bytecode)
-- succeed and the stream stays in step.
local placeholderChunk
for n = 60, 1, -1 do
   local names = {}
   for i = 1, n do names[i] = 'u' .. i end
   local list = table.concat(names, ', ')
   placeholderChunk = loadstring('local ' .. list .. '\nreturn function() error("dump_reference.lua: '
                                 .. 'this Lua function was serialized by another Lua build and was not loaded", 2) '
                                 .. 'return ' .. list .. ' end')
   if placeholderChunk then break end
end

local loadReport = {cuda = false, functions = 0, functionError = nil}

local function upvalueIndex(fn, name)
   local i = 1
   while true do
      local n = debug.getupvalue(fn, i)
      if n == nil then return nil end
      if n == name then return i end
      i = i + 1
   end
end

local function load(path)
   local factory, load_ = torch.factory, loadstring
   if cudaAsCpu then
      -- File:readObject builds each object with torch.factory(className)(file), then calls its read
      torch.factory = function(name)
         local twin = CUDA_TWINS[name]
         if twin and factory(twin) then
            loadReport.cuda = true
            return factory(twin)
         end
         return factory(name)
      end
   end
   -- File:readObject reads a function as loadstring(dumped bytecode), then its upvalues. File.lua
   -- keeps loadstring in a local (local loadstring = loadstring or load): replace that upvalue.
   local readObject = torch.getmetatable('torch.File').readObject
   local slot = upvalueIndex(readObject, 'loadstring')
   if slot then load_ = select(2, debug.getupvalue(readObject, slot)) end
   local function tolerant(code, ...)
      local f, err = load_(code, ...)
      if f then return f end
      loadReport.functions = loadReport.functions + 1
      loadReport.functionError = loadReport.functionError or err
      return placeholderChunk()
   end
   local global = loadstring
   if slot then debug.setupvalue(readObject, slot, tolerant) else loadstring = tolerant end
   -- torch.save's binary files, then ascii ones, then binary ones from a 4-byte-long build ('b32'),
   -- as t7convert's reader detects them
   local function attempt(mode)
      loadReport.cuda, loadReport.functions = false, 0
      return pcall(torch.load, path, mode)
   end
   local ok, result = attempt(nil)
   for _, mode in ipairs({'ascii', 'b32'}) do
      if ok or tostring(result):find('unknown Torch class') then break end
      local retried, value = attempt(mode)
      if retried then ok, result = true, value end
   end
   torch.factory = factory
   if slot then debug.setupvalue(readObject, slot, load_) else loadstring = global end
   if not ok then
      local class = tostring(result):match('unknown Torch class <(.-)>')
      if class then
         refuse(string.format('%s holds a %s, a class this Torch7 does not define: require the package that '
                              .. 'defines it%s', path, class,
                              class:find('^torch%.Cuda') and ' (cutorch), or leave DUMP_CUDA_AS_CPU unset' or ''))
      end
      refuse(string.format('cannot load %s: %s', path, tostring(result):gsub('\n.*', '')))
   end
   return result
end

-- CPU forwards for cudnn modules -------------------------------------------------------------------
-- Each cudnn module becomes its nn twin (torch.setmetatable keeps the object, so every container
-- that holds it sees the change), with the fields nn reads filled in; where nn has no class with
-- cudnn's semantics, the instance gets its own updateOutput (an instance field shadows the class
-- method, and containers call module:updateOutput(input)).
local function groupedConvolution(self, input)
   local groups = self.groups or 1
   local batched = input:dim() == 4
   local x = batched and input or input:view(1, input:size(1), input:size(2), input:size(3))
   local inPer, outPer = self.nInputPlane / groups, self.nOutputPlane / groups
   local parts = {}
   for g = 1, groups do
      local conv = nn.SpatialConvolution(inPer, outPer, self.kW, self.kH, self.dW, self.dH,
                                         self.padW or 0, self.padH or 0):float()
      conv.weight = self.weight:narrow(1, (g - 1) * outPer + 1, outPer):contiguous()
                       :view(outPer, inPer, self.kH, self.kW)
      if self.bias then
         conv.bias = self.bias:narrow(1, (g - 1) * outPer + 1, outPer):contiguous()
      else
         conv:noBias()
      end
      parts[g] = conv:forward(x:narrow(2, (g - 1) * inPer + 1, inPer):contiguous()):clone()
   end
   local out = torch.cat(parts, 2)
   if not batched then out = out:view(out:size(2), out:size(3), out:size(4)) end
   self.output = out
   return self.output
end

-- cudnn.TemporalConvolution is a SpatialConvolution over (1, time, inputFrameSize) images: kH, dH
-- and padH are the time kernel, step and zero padding, its weight viewed as nn's
-- (outputFrameSize, kH * inputFrameSize) has nn.TemporalConvolution's layout.
local function temporalConvolution(self, input)
   local pad = self.padH or 0
   local x = input
   if pad > 0 then
      local t = input:dim() - 1
      local size = input:size()
      size[t] = size[t] + 2 * pad
      x = input.new(size):zero()
      x:narrow(t, pad + 1, input:size(t)):copy(input)
   end
   local conv = nn.TemporalConvolution(self.inputFrameSize, self.outputFrameSize, self.kH, self.dH):float()
   conv.weight = self.weight:contiguous():view(self.outputFrameSize, self.kH * self.inputFrameSize)
   conv.bias = self.bias or conv.bias:zero()
   self.output = conv:forward(x):clone()
   return self.output
end

-- cudnn's activations write into the input when inplace is set (Pointwise:updateOutput)
local function pointwise(kernel)
   return function(self, input)
      if not self.inplace then self.output = self.output or input.new() end
      local out = self.inplace and input or self.output
      kernel(self, input, out)
      self.output = out
      return self.output
   end
end

local function threshold(self, input, out)
   input.THNN.Threshold_updateOutput(input:cdata(), out:cdata(), 0, 0, false)
end
local function clipped(self, input, out)
   input.THNN.HardTanh_updateOutput(input:cdata(), out:cdata(), 0, self.ceiling, false)
end
local function tanh(self, input, out) input.THNN.Tanh_updateOutput(input:cdata(), out:cdata()) end
local function sigmoid(self, input, out) input.THNN.Sigmoid_updateOutput(input:cdata(), out:cdata()) end

-- instance mode: over all of each sample's values (a 1-D or 2-D input is one or N samples)
local function instanceSoftMax(base)
   return function(self, input)
      local flat = input
      if input:dim() == 3 then
         flat = input:contiguous():view(input:nElement())
      elseif input:dim() == 4 then
         flat = input:contiguous():view(input:size(1), input:nElement() / input:size(1))
      end
      base.updateOutput(self, flat)
      self.output = self.output:view(input:size())
      return self.output
   end
end

-- VolumetricSoftMax folds (t, h) into one dimension and runs a channel-mode SpatialSoftMax
local function volumetricSoftMax(base)
   return function(self, input)
      local size = input:size()
      local folded = input:dim() == 4
         and input:contiguous():view(size[1], size[2] * size[3], size[4])
         or input:contiguous():view(size[1], size[2], size[3] * size[4], size[5])
      base.updateOutput(self, folded)
      self.output = self.output:view(size)
      return self.output
   end
end

-- cudnn.VolumetricAveragePooling counts the zero padding (COUNT_INCLUDE_PADDING); nn's has none
local function paddedVolumetricAverage(self, input)
   local pads = {self.padT or 0, self.padH or 0, self.padW or 0}
   local x = input
   if pads[1] + pads[2] + pads[3] > 0 then
      local first = input:dim() - 2
      local size = input:size()
      for i = 1, 3 do size[first + i - 1] = size[first + i - 1] + 2 * pads[i] end
      x = input.new(size):zero()
      local inner = x
      for i = 1, 3 do inner = inner:narrow(first + i - 1, pads[i] + 1, input:size(first + i - 1)) end
      inner:copy(input)
   end
   return nn.VolumetricAveragePooling.updateOutput(self, x)
end

local function isLog(m)
   local t = torch.type(m)
   return t:find('LogSoftMax') ~= nil or m.algorithm == 'CUDNN_SOFTMAX_LOG'
          or (m.ssm and m.ssm.algorithm == 'CUDNN_SOFTMAX_LOG')
end

local function softmaxTwin(m)
   if isLog(m) then return 'nn.LogSoftMax', nn.LogSoftMax end
   return 'nn.SoftMax', nn.SoftMax
end

local function twin(name, prepare)
   return function(m)
      if prepare then prepare(m) end
      torch.setmetatable(m, name)
   end
end

local function forward(name, fn)
   return twin(name, function(m) m.updateOutput = fn(m) end)
end

local CPU = {
   ['cudnn.SpatialConvolution'] = forward('nn.SpatialConvolution', function() return groupedConvolution end),
   ['cudnn.SpatialFullConvolution'] = twin('nn.SpatialFullConvolution', function(m)
      m.adjW, m.adjH = m.adjW or 0, m.adjH or 0
   end),
   ['cudnn.VolumetricConvolution'] = twin('nn.VolumetricConvolution', function(m)
      m.padT, m.padW, m.padH = m.padT or 0, m.padW or 0, m.padH or 0
   end),
   ['cudnn.VolumetricFullConvolution'] = twin('nn.VolumetricFullConvolution', function(m)
      m.adjT, m.adjW, m.adjH = m.adjT or 0, m.adjW or 0, m.adjH or 0
   end),
   ['cudnn.TemporalConvolution'] = forward('nn.TemporalConvolution', function() return temporalConvolution end),
   ['cudnn.SpatialMaxPooling'] = twin('nn.SpatialMaxPooling', function(m)
      m.indices = m.indices or torch.LongTensor()
      m.ceil_mode = m.ceil_mode or false
   end),
   ['cudnn.SpatialAveragePooling'] = twin('nn.SpatialAveragePooling', function(m)
      m.divide = true              -- cudnn.torch refuses divide == false
      m.count_include_pad = true   -- and always counts the padding
      m.ceil_mode = m.ceil_mode or false
   end),
   ['cudnn.VolumetricMaxPooling'] = twin('nn.VolumetricMaxPooling', function(m)
      m.indices = m.indices or torch.LongTensor()
      m.ceil_mode = m.ceil_mode or false
   end),
   ['cudnn.VolumetricAveragePooling'] = forward('nn.VolumetricAveragePooling', function(m)
      if m.ceil_mode then refuse('cudnn.VolumetricAveragePooling in ceil mode has no nn twin') end
      return paddedVolumetricAverage
   end),
   ['cudnn.ReLU'] = forward('nn.ReLU', function() return pointwise(threshold) end),
   ['cudnn.ClippedReLU'] = forward('nn.HardTanh', function() return pointwise(clipped) end),
   ['cudnn.Tanh'] = forward('nn.Tanh', function() return pointwise(tanh) end),
   ['cudnn.Sigmoid'] = forward('nn.Sigmoid', function() return pointwise(sigmoid) end),
   ['cudnn.SoftMax'] = forward('nn.SoftMax', function() return instanceSoftMax(nn.SoftMax) end),
   ['cudnn.LogSoftMax'] = forward('nn.LogSoftMax', function() return instanceSoftMax(nn.LogSoftMax) end),
   ['cudnn.SpatialSoftMax'] = function(m)
      local name, base = softmaxTwin(m)
      if m.mode == 'CUDNN_SOFTMAX_MODE_INSTANCE' then m.updateOutput = instanceSoftMax(base) end
      torch.setmetatable(m, name)
   end,
   ['cudnn.VolumetricSoftMax'] = function(m)
      local name, base = softmaxTwin(m)
      m.updateOutput = volumetricSoftMax(base)
      torch.setmetatable(m, name)
   end,
   ['cudnn.SpatialCrossMapLRN'] = twin('nn.SpatialCrossMapLRN', function(m)
      if m.K then m.k, m.K = m.K, nil end  -- cudnn.torch's own renaming (SpatialCrossMapLRN:updateOutput)
   end),
   ['cudnn.BatchNormalization'] = twin('nn.BatchNormalization'),
   ['cudnn.SpatialBatchNormalization'] = twin('nn.SpatialBatchNormalization'),
   ['cudnn.VolumetricBatchNormalization'] = twin('nn.VolumetricBatchNormalization'),
}
CPU['cudnn.SpatialLogSoftMax'] = CPU['cudnn.SpatialSoftMax']
CPU['cudnn.VolumetricLogSoftMax'] = CPU['cudnn.VolumetricSoftMax']

local DATA_PARALLEL = {['nn.DataParallelTable'] = true, ['nn.DataParallel'] = true, ['fbnn.DataParallel'] = true}

local function firstReplica(m)
   while m and DATA_PARALLEL[torch.type(m)] do m = m.modules and m.modules[1] end
   return m
end

-- paths as t7convert writes them: modules[2].modules[1]
local function visit(m, fn, path)
   fn(m, path)
   if m.modules then
      for i, child in ipairs(m.modules) do
         local inner = firstReplica(child)
         if inner ~= child then m.modules[i] = inner end  -- on the CPU a replica is the whole module
         visit(inner, fn, (path == '' and '' or path .. '.') .. 'modules[' .. i .. ']')
      end
   end
end

local function runOnCPU(model)
   local missing = {}
   visit(model, function(m, path)
      local t = torch.type(m)
      local cpu = CPU[t]
      if cpu then
         cpu(m)
      elseif t:find('^cudnn%.') and not missing[t] then
         missing[t] = path == '' and '<root>' or path
         missing[#missing + 1] = t
      end
   end, '')
   if #missing > 0 then
      refuse(string.format('no CPU forward for %s (at %s): cudnn.torch\'s RNN classes, SpatialDivisiveNormalization '
                           .. 'and criterions have no nn twin', table.concat(missing, ', '), missing[missing[1]]))
   end
end

-- which input the model takes (t7convert's conversion/input_plan.py and pytorch/input_shape.py) -----
local CONVOLUTIONS = {['nn.SpatialConvolution'] = true, ['nn.SpatialConvolutionMM'] = true,
                      ['cudnn.SpatialConvolution'] = true, ['fbnn.SpatialConvolution'] = true}
local POOLINGS = {['nn.SpatialMaxPooling'] = true, ['nn.SpatialAveragePooling'] = true,
                  ['cudnn.SpatialMaxPooling'] = true, ['cudnn.SpatialAveragePooling'] = true}
local AVERAGE_POOLINGS = {['nn.SpatialAveragePooling'] = true, ['cudnn.SpatialAveragePooling'] = true}
local BRANCHES = {['nn.Concat'] = true, ['nn.ConcatTable'] = true, ['nn.DepthConcat'] = true,
                  ['nn.ParallelTable'] = true}

local TABLE_INPUTS = {['nn.ParallelTable'] = true, ['nn.MapTable'] = true}

local function firstLayer(m)
   if TABLE_INPUTS[torch.type(m)] then return nil end  -- a Lua table of inputs: no tensor size to tell
   if DATA_PARALLEL[torch.type(m)] or (m.modules and #m.modules > 0 and torch.type(m) ~= 'nn.gModule') then
      return m.modules and m.modules[1] and firstLayer(m.modules[1])
   end
   return m
end

-- what the first layer declares: a whole sample size (a table of sizes), a number of planes, or nil
local function declaredInput(m)
   local t = torch.type(m)
   if t == 'nn.Linear' and m.weight then return {m.weight:size(2)} end
   if (t == 'nn.View' or t == 'nn.Reshape') and m.size and (m.numInputDims == nil or m.numInputDims == 1) then
      local n = 1
      for i = 1, #m.size do
         if m.size[i] < 0 then return nil end
         n = n * m.size[i]
      end
      return n > 0 and {n} or nil
   end
   if CONVOLUTIONS[t] then return m.nInputPlane end
   if t:find('BatchNormalization$') and m.running_mean then
      local n = m.running_mean:nElement()
      return t == 'nn.BatchNormalization' and {n} or n  -- a vector, or images of n planes
   end
   return nil
end

-- the (H, W) the last average pooling implies through the strides before it, along each module's
-- first input; nil inside an nngraph graph (its connections are not walked here) or without one
local function plannedSize(model)
   local planned, opaque = nil, false
   local function walk(m, sh, sw)
      local t = torch.type(m)
      if t == 'nn.gModule' then opaque = true return sh, sw end
      if m.modules and #m.modules > 0 then
         local outH, outW = sh, sw
         for i, child in ipairs(m.modules) do
            if BRANCHES[t] then
               local h, w = walk(child, sh, sw)
               if i == 1 then outH, outW = h, w end
            else
               outH, outW = walk(child, outH, outW)
            end
         end
         return outH, outW
      end
      if AVERAGE_POOLINGS[t] then planned = {m.kH * sh, m.kW * sw} end
      if (CONVOLUTIONS[t] or POOLINGS[t]) and m.dH and m.dW then return sh * m.dH, sw * m.dW end
      return sh, sw
   end
   walk(model, 1, 1)
   return not opaque and planned or nil
end

local function acceptsBatchOf2(model, size)
   local ok, out = pcall(function()
      return model:forward(torch.FloatTensor(2, unpack(size)):zero())
   end)
   -- nn.View infers a batch from the element count: a wrong size can pass as more samples
   return ok and torch.isTensor(out) and out:dim() >= 1 and out:size(1) == 2
end

local function derivedInputSize(model)
   local first = firstLayer(model)
   local hint = first and declaredInput(first)
   if type(hint) == 'table' then return hint, 'declared by ' .. torch.type(first) end
   local channels = hint or 3
   local candidates = {}
   local planned = plannedSize(model)
   if planned then candidates[1] = planned end
   for _, s in ipairs({224, 32, 28, 64, 96, 128, 256, 299, 227, 112, 48, 16}) do candidates[#candidates + 1] = {s, s} end
   for t = 2, 64 do
      for h = 1, t - 1 do candidates[#candidates + 1] = {h, t - h} end
   end
   local deadline = os.clock() + 15
   for i, hw in ipairs(candidates) do
      local size = {channels, hw[1], hw[2]}
      if acceptsBatchOf2(model, size) then
         return size, (planned and i == 1) and 'the final average pooling' or 'a trial forward'
      end
      if os.clock() > deadline then break end
   end
   local example = (first and first.inputFrameSize) and ('FRAMES,' .. first.inputFrameSize) or '3,224,224'
   refuse(string.format('cannot tell which input %s takes (its first layer, %s, does not say, and no common '
                        .. 'size runs); set DUMP_INPUT_SIZE, for example DUMP_INPUT_SIZE=%s',
                        modelPath, first and torch.type(first) or 'none', example))
end

-- the model --------------------------------------------------------------------------------------
local model = load(modelPath)
if torch.type(model) == 'table' then
   model = model.model or model.net or model.network or model.module or model[1]
end
model = firstReplica(model)
if not (model and model.forward) then refuse(modelPath .. ' holds no nn module') end
if loadReport.cuda then
   print('read the CUDA tensors and storages as CPU ones (DUMP_CUDA_AS_CPU=0 to refuse them)')
end
if loadReport.functions > 0 then
   print(string.format('%d Lua functions in the file did not load (%s) and were replaced by placeholders',
                       loadReport.functions, tostring(loadReport.functionError):gsub('\n.*', '')))
end
model = model:float()
runOnCPU(model)
model:evaluate()

-- the input --------------------------------------------------------------------------------------
local function sameSize(a, b)
   if #a ~= #b then return false end
   for i = 1, #a do if a[i] ~= b[i] then return false end end
   return true
end

local function drawInput(spec, batched)
   if spec.items then
      local t = {}
      for i, item in ipairs(spec.items) do t[i] = drawInput(item, batched) end
      return t
   end
   local sizes = {}
   if batched then sizes[1] = batch end
   for _, s in ipairs(spec.sizes) do sizes[#sizes + 1] = s end
   local tensorType = {float = 'torch.FloatTensor', double = 'torch.DoubleTensor', long = 'torch.LongTensor',
                       int = 'torch.IntTensor', byte = 'torch.ByteTensor'}
   local x = torch.Tensor():type(tensorType[spec.dtype])
   if #sizes > 0 then x:resize(torch.LongStorage(sizes)) else x:resize(1) end
   if spec.low then x:random(spec.low, spec.high) else x:normal() end
   return x
end

local function describe(x)
   if torch.isTensor(x) then return table.concat(x:size():totable(), 'x') end
   local t = {}
   for i, v in ipairs(x) do t[i] = describe(v) end
   return '{' .. table.concat(t, ', ') .. '}'
end

-- what the file remembers: the gradInput of the last batch (a tensor or a table of them), taken whole
local function keptInput(value)
   if torch.isTensor(value) then
      if value:nElement() == 0 then return nil end
      return {sizes = value:size():totable(), dtype = 'float', whole = true}
   end
   if type(value) == 'table' and #value > 0 then
      local items = {}
      for i, v in ipairs(value) do
         items[i] = keptInput(v)
         if not items[i] then return nil end
      end
      return {items = items}
   end
   return nil
end

local source = 'DUMP_INPUT_SIZE'
if inputSpec then
   source = 'DUMP_INPUT'
elseif not inputSize and not imagePath and keptInput(model.gradInput) then
   inputSpec, source = keptInput(model.gradInput), 'the gradInput the file kept'
elseif not inputSize then
   inputSize, source = derivedInputSize(model)
end
if imagePath and inputSpec then
   refuse('an image is the input: drop DUMP_INPUT (the image preprocessing makes 3x224x224)')
end

local input
if imagePath then
   if not sameSize(inputSize, {3, 224, 224}) then
      refuse(string.format('%s takes %s inputs (%s), but the image preprocessing makes 3x224x224 '
                           .. '(fb.resnet.torch\'s ImageNet transform): run without an image', modelPath,
                           table.concat(inputSize, 'x'), source))
   end
   require 'image'
   -- fb.resnet.torch datasets/transforms.lua: Scale(256), ColorNormalize(meanstd), CenterCrop(224)
   local mean = {0.485, 0.456, 0.406}
   local std = {0.229, 0.224, 0.225}
   local img = image.load(imagePath, 3, 'float')
   local w, h = img:size(3), img:size(2)
   local size = 256
   if not ((w <= h and w == size) or (h <= w and h == size)) then
      if w < h then
         img = image.scale(img, size, h / w * size, 'bicubic')
      else
         img = image.scale(img, w / h * size, size, 'bicubic')
      end
   end
   img = img:clone()
   for c = 1, 3 do
      img[c]:add(-mean[c])
      img[c]:div(std[c])
   end
   local crop = 224
   local w1 = math.ceil((img:size(3) - crop) / 2)
   local h1 = math.ceil((img:size(2) - crop) / 2)
   img = image.crop(img, w1, h1, w1 + crop, h1 + crop)
   input = img:view(1, unpack(img:size():totable()))
elseif inputSpec then
   -- a batch in front when the model runs on that (a kept gradInput is the whole input already), else
   -- one sample as written
   local tries = source == 'the gradInput the file kept' and {false} or {true, false}
   for _, batched in ipairs(tries) do
      torch.manualSeed(seed)
      input = drawInput(inputSpec, batched)
      if pcall(function() return model:forward(input) end) then break end
   end
   print(string.format('input %s (%s), seed %d', describe(input), source, seed))
else
   torch.manualSeed(seed)
   input = torch.FloatTensor(batch, unpack(inputSize)):normal()
   print(string.format('input %s (%s), seed %d', table.concat(input:size():totable(), 'x'), source, seed))
end

-- the run ----------------------------------------------------------------------------------------
local ran, output = pcall(function() return model:forward(input) end)
if not ran then
   refuse(string.format('the model does not run on a %s input (%s): %s; set DUMP_INPUT',
                        describe(input), source,
                        (tostring(output):gsub('%s*stack traceback:.*', ''):gsub('\n', ' '))))
end
local stages = {}
for i, m in ipairs(model.modules or {}) do
   local o = m.output
   if torch.isTensor(o) and o:dim() > 1 then
      stages[i] = o[1]:clone():float()
   elseif torch.isTensor(o) and o:dim() == 1 then
      stages[i] = o:clone():float()  -- a batch of one whose batch dimension a View dropped: all of it
   else
      stages[i] = {}
   end
end
if torch.isTensor(output) then output = output:float() end
torch.save(outPath, {input = input, output = output, stages = stages})
print(string.format('wrote %s: input %s, %d stages', outPath, describe(input), #stages))
