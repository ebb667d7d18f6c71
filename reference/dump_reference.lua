--[[
dump_reference.lua: run a Torch7 model and save what `t7convert parity --reference` compares with.

    th dump_reference.lua model.t7 out.ref.t7 [image.jpg]

Writes the table {input = FloatTensor, output = FloatTensor, stages = {...}}:
  * input:  the batch the model ran on. Without an image, a seeded standard-normal batch (environment:
            DUMP_INPUT_SIZE=C,H,W, default 3,224,224; DUMP_BATCH, default 1; DUMP_SEED, default 0).
            With an image, fb.resnet.torch's pretrained/classify.lua preprocessing: image.load(path, 3,
            'float'), Scale(256) (shorter side to 256, bicubic), ColorNormalize (ImageNet mean/std),
            CenterCrop(224), as a batch of one.
  * output: the model's output in evaluate mode (model:evaluate(), float, on the CPU).
  * stages: stages[i] = model.modules[i].output for the FIRST sample (a 1-D output whole: a batch of one
            whose batch dimension a View dropped), read after the forward pass.
            Torch7 modules share tensors, so a module followed by an in-place layer holds that layer's
            result (a BatchNorm before ReLU(true) ends up holding the ReLU's output); t7convert knows
            this. A stage whose output is not a tensor is stored as an empty table.

Everything runs on the CPU in float. Models saved with cudnn classes run on nn's CPU kernels:
cudnn.SpatialConvolution group by group, cudnn.ReLU as Threshold(0, 0), cudnn pooling through nn's
pooling (always dividing by the window including padding, as cudnn.torch does), cudnn batch
normalization through nn's, cudnn.SoftMax/LogSoftMax over all of each sample's values (cudnn's
instance mode). Neither CUDA nor cudnn.torch is needed: when cudnn.torch is not installed, stand-ins
for its classes are declared so that torch.load can build the objects. One known difference from a
GPU run: in ceil mode with padding, cudnn.torch may give pooling one more output row or column than
nn's kernels (THNN drops a last window that would start in the padding); ResNet/ResNeXt models do not
pool that way. Files holding an nn.DataParallelTable need cunn to load (it is unwrapped to its first
replica, as fb.resnet.torch's checkpoints.lua does).
--]]

require 'torch'
require 'nn'

local unpack = table.unpack or unpack

local modelPath, outPath, imagePath = arg[1], arg[2], arg[3]
if not modelPath or not outPath then
   io.stderr:write('usage: th dump_reference.lua model.t7 out.ref.t7 [image.jpg]\n')
   os.exit(2)
end

-- cudnn classes --------------------------------------------------------------------------------
if not pcall(require, 'cudnn') then
   cudnn = cudnn or {}  -- torch.class('cudnn.X') needs the global table to put the class in
   local function declare(name, parent)
      if not torch.getmetatable(name) then torch.class(name, parent) end
   end
   declare('cudnn.SpatialConvolution', 'nn.SpatialConvolution')
   declare('cudnn._Pointwise', 'nn.Module')
   declare('cudnn.ReLU', 'cudnn._Pointwise')
   declare('cudnn._Pooling', 'nn.Module')
   declare('cudnn.SpatialMaxPooling', 'cudnn._Pooling')
   declare('cudnn.SpatialAveragePooling', 'cudnn._Pooling')
   declare('cudnn.BatchNormalization', 'nn.BatchNormalization')  -- inherits the legacy running_std read
   declare('cudnn.SpatialBatchNormalization', 'cudnn.BatchNormalization')
   declare('cudnn.SpatialSoftMax', 'nn.Module')
   declare('cudnn.SoftMax', 'cudnn.SpatialSoftMax')
   declare('cudnn.LogSoftMax', 'cudnn.SpatialSoftMax')
end

-- CPU forwards for cudnn modules, set on each instance (an instance field shadows the class method,
-- and Sequential calls module['updateOutput'](module, input)). They use only the module's fields.
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

local function relu(self, input)
   input.THNN.Threshold_updateOutput(input:cdata(), self.output:cdata(), 0, 0, self.inplace and true or false)
   return self.output
end

local function maxPooling(self, input)
   self.indices = self.indices or torch.LongTensor()
   return nn.SpatialMaxPooling.updateOutput(self, input)
end

local function averagePooling(self, input)
   self.divide = true              -- cudnn.torch refuses divide == false
   self.count_include_pad = true   -- and always counts the padding
   return nn.SpatialAveragePooling.updateOutput(self, input)
end

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

local function runOnCPU(m)
   local t = torch.type(m)
   if t == 'cudnn.SpatialConvolution' then
      m.updateOutput = groupedConvolution
   elseif t == 'cudnn.ReLU' then
      m.updateOutput = relu
   elseif t == 'cudnn.SpatialMaxPooling' then
      m.updateOutput = maxPooling
   elseif t == 'cudnn.SpatialAveragePooling' then
      m.updateOutput = averagePooling
   elseif t == 'cudnn.BatchNormalization' or t == 'cudnn.SpatialBatchNormalization' then
      m.nDim = (t == 'cudnn.SpatialBatchNormalization') and 4 or 2
      m.checkInputDim = nn.BatchNormalization.checkInputDim
      m.updateOutput = nn.BatchNormalization.updateOutput
   elseif t == 'cudnn.SoftMax' then
      m.updateOutput = instanceSoftMax(nn.SoftMax)
   elseif t == 'cudnn.LogSoftMax' then
      m.updateOutput = instanceSoftMax(nn.LogSoftMax)
   elseif t:find('^cudnn%.') then
      error('dump_reference.lua: no CPU forward for ' .. t)
   end
end

local function visit(m, fn)
   fn(m)
   if m.modules then
      for _, child in ipairs(m.modules) do visit(child, fn) end
   end
end

-- the model --------------------------------------------------------------------------------------
local model = torch.load(modelPath)
if torch.type(model) == 'table' then
   model = model.model or model.net or model.network or model.module or model[1]
end
while torch.type(model) == 'nn.DataParallelTable' do model = model:get(1) end
assert(model and model.forward, modelPath .. ' holds no nn module')
model = model:float()
visit(model, runOnCPU)
model:evaluate()

-- the input --------------------------------------------------------------------------------------
local input
if imagePath then
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
else
   local sizes = {}
   for v in (os.getenv('DUMP_INPUT_SIZE') or '3,224,224'):gmatch('%d+') do sizes[#sizes + 1] = tonumber(v) end
   assert(#sizes == 3, 'DUMP_INPUT_SIZE should be C,H,W')
   torch.manualSeed(tonumber(os.getenv('DUMP_SEED') or '0'))
   input = torch.FloatTensor(tonumber(os.getenv('DUMP_BATCH') or '1'), sizes[1], sizes[2], sizes[3]):normal()
end

-- the run ----------------------------------------------------------------------------------------
local output = model:forward(input)
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
print(string.format('wrote %s: input %s, %d stages', outPath,
                    table.concat(input:size():totable(), 'x'), #stages))
