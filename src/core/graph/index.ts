// The graph compiler's public API: tensor IR + op builders + checker + ONNX writer + ORT runner + autodiff + nn composites.
// Import from here (`import * as G from '../graph'`), not from the files behind it.
/*
 * Quick tour (all shapes are inferred at build time; symbolic dims are strings such as 'B', 'T', 'B*T'):
 *
 *   const g = new Graph('llama_step');
 *   const ids = g.input('input_ids', 'int64', ['B', 'T']);                       // graph input (symbol sources for B, T)
 *   const W = g.externalInitializer('model.layers.0.mlp.up_proj.weight', 'float32', [1536, 512],
 *               { location: 'model.safetensors', offset: 8 + headerLen + begin, length: end - begin }); // no copy
 *   const A = g.input('lora_A', 'float32', [8, 512]);                            // trainable params are inputs
 *   const x2d = reshape(x, ['B*T', 512]);                                        // 0/-1 constants, or Shape-derived
 *   const y = add(linear(x2d, W), mul(linear(linear(x2d, A), B), scaling));       // Gemm(transB=1), no transposed copy
 *   g.scope('model.layers.0', () => ...);                                         // node names get the HF prefix
 *   const grads = gradients(g, loss, [A, B]);                                     // Map<Value, Value>, appended to g
 *   g.output(loss, 'loss'); g.output(grads.get(A)!, 'grad.lora_A');
 *   checkGraph(g);                                // also run by toOnnxModel/writeOnnx; throws GraphError naming node + tensor
 *   writeOnnx(g, path.join(modelDir, 'step.onnx'));     // beside the weights: ORT resolves external data in that folder
 *                                                 // (nodes no output needs are not written: ORT would run them)
 *   const s = await GraphSession.create(g, { dir: modelDir, sessionOptions: { extra: { session: { disable_prepacking: '1' } } } });
 *   const out = await s.run({ input_ids: { data, dims: [2, 16] }, lora_A: a });  // → { name: { data, dims } }
 *   await runGraph(g, feeds)                       // one-shot (temp folder when there is no external data)
 *
 * weightFromSafetensors(g, entry) → external initializer named by the HF tensor (entry from safetensors/read.ts).
 * checkExternalData(g, dir): each weight's file is in dir (no symlink out of it) and long enough; GraphSession runs it.
 * Graph: input(name,dtype,shape) · initializer(name,dtype,shape,data) · externalInitializer(name,dtype,shape,loc)
 *        constant(dtype,shape,data) · scalar(x,dtype) · int64s(xs) · node(op,inputs,attrs,opts)→Value[] · op(...)→Value
 *        output(v,name?) · scope(prefix,fn) · nodes/inputs/initializers/outputs/values
 * Attributes: int(n) float(x) ints([...]) floats([...]) str(s)
 * Ops (ops.ts, opsShape.ts): add sub mul div pow max min equal less greater and not neg exp log sqrt reciprocal tanh
 *        sigmoid erf abs relu identity softmax where cast matMul gemm reduceSum reduceMean reduceMax trilu
 *        layerNormalization reshape reshapeLike transpose unsqueeze squeeze concat slice split gather gatherElements
 *        scatterElements scatterND expand expandLike zerosLike shapeTensor dimTensor.
 *        Numbers are lifted to constants of the other operand's dtype: mul(x, 0.5).
 * Graph.stopGradient(v): an Identity autodiff treats as a constant (torch .detach()).
 * Autodiff: gradients(g, loss, wrt[]) → Map<Value, Value>; rules in vjp/*.ts (VJP_RULES lists the differentiable ops).
 * nn.ts (also as `nn.*`): linear(x2d, W, bias?, {transB}) · nn.softmax = stableSoftmax · logSumExp · logSoftmax
 *        crossEntropy(logits2d, targets1d, ignoreIndex=-100) → {sum, count, mean, perRow} · rmsNorm · layerNorm · silu · geluNew
 * Differentiable ops (VJP_RULES): Add Sum Sub Mul Div Neg Identity Exp Log Sqrt Reciprocal Pow Tanh Sigmoid Erf Abs Relu Max Min
 *        Where Cast Softmax Trilu MatMul Gemm ReduceSum ReduceMean ReduceMax ReduceSumSquare Reshape Unsqueeze Squeeze
 *        Transpose Expand Concat Split Slice(step 1) Gather GatherElements LayerNormalization(Y only).
 * Debugging: formatGraph(g, {limit}) (one line per input/weight/node with shapes) · opCounts(g).
 * Errors: GraphError (a PeftStudioError) with context.tensor = the weight involved (seen through Cast/Reshape/...).
 * Opset 18 (Reduce* axes are inputs), IR version 9. Dtypes: float32 float16 bfloat16 float64 int64 int32 int8 uint8 bool.
 * ORT 1.30 CPU runs all the ops above in float64 except Erf (float only); float64 graphs default to optimization
 * level 'basic' because the extended QuickGelu fusion of x·σ(x) has only a float kernel.
 */
export { type Dim, type Shape, shapeStr, shapeEq, dimEq, mulDims, numel, broadcastShapes } from './dims';
export {
  Graph, Value, Node, GraphError, type DType, type TensorData, type ExternalLocation, type Attr, type Attrs, type ValueType,
  type NodeOptions, int, float, ints, floats, str, typedArrayOf, toHalf, toBfloat16, BYTES, isFloat, sourceWeight, weightAmong,
} from './ir';
export { inferNode, constInts, NotInferable } from './infer';
export { checkGraph } from './check';
export { toModelProto, toOnnxModel, writeOnnx, readOnnx, liveSubgraph, type WriteOptions, OPSET, IR_VERSION } from './writer';
export { GraphSession, runGraph, type RunOptions, type HostTensor, type Feed } from './runner';
export { onnxDataType, dtypeFromOnnx } from './onnxTypes';
export { weightFromSafetensors, dtypeFromSafetensors, checkExternalData } from './weights';
export { formatGraph, opCounts } from './debug';
export * from './ops';
export * from './opsShape';
export { MS_DOMAIN, matMulNBits, dequantizeNBits, type NBitsAttrs } from './nbits';
export { gradients, unbroadcast, VJP_RULES } from './autodiff';
export type { VjpRule, VjpArgs } from './vjp/types';
export * as nn from './nn';
export {
  linear, logSumExp, logSoftmax, crossEntropy, rmsNorm, layerNorm, silu, geluNew, softmax as stableSoftmax,
  type LinearOptions, type CrossEntropyResult,
} from './nn';
