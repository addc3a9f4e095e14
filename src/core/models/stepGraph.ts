// The training graphs of one model + LoRA configuration: `step` (forward + backward + clip + AdamW: one session.run
// per optimizer step), `grad` + `apply` (gradient accumulation over micro-batches), and `eval` (forward + loss only).
/*
 * Gradient accumulation (design choice): with one micro-batch the fused `step` graph runs forward, backward, clip and
 * AdamW in one session.run. With k > 1 micro-batches the engine runs the `grad` graph once per micro-batch (peak memory
 * of one micro-batch, as torch) and the tiny `apply` graph once. Every token's loss weight is 1/N where N counts the
 * label tokens of the whole optimizer step, so the summed micro-batch losses and gradients are exactly the token-weighted
 * mean of transformers' Trainer (loss_sum / num_items_in_batch); gradients are summed on the host in fp32 (torch's
 * `.grad +=`). The `eval` graph is forward + loss only (weights 1 give a summed loss), opened on first use.
 */
import * as G from '../graph';
import type { Graph, Value } from '../graph';
import type { ModelInventory } from '../hf/types';
import type { TensorEntry } from '../safetensors/types';
import { type ParamGrad, adamwInputs, clipAndAdamW, expAvgName, expAvgSqName, newName } from '../train/adamw';
import type { LoraTarget, OptimizerOptions } from '../train/engineApi';
import { type ComputeDtype, type ModelInputs, VarBuilder, WeightStore, weightedCrossEntropy } from './common';
import { INPUT } from './feeds';
import { gpt2Hidden } from './gpt2';
import { llamaHidden } from './llama';
import { LoraSet } from './lora';

export interface ModelGraphOptions {
  inventory: ModelInventory;
  targets: LoraTarget[];
  /** lora_dropout: > 0 adds one host-fed mask input per target. */
  dropout: number;
  dtype: ComputeDtype;
  optimizer: OptimizerOptions;
  /** Checkpoint header entries (read from the model folder when absent). */
  tensors?: Map<string, TensorEntry>;
}

/** Output names. */
export const OUTPUT = { loss: 'loss', gradNorm: 'grad_norm' } as const;
export const gradName = (key: string): string => `grad.${key}`;

export interface ForwardGraph {
  g: Graph;
  lora: LoraSet;
  /** Σ weight·nll over the batch: the step's mean loss when weights are 1/N_step, the summed loss when 1. */
  loss: Value;
}

/** Inputs, model, LoRA and weighted loss, shared by all graphs that run the model. */
export function buildForward(name: string, o: ModelGraphOptions): ForwardGraph {
  const g = new G.Graph(name);
  const spec = o.inventory.spec;
  const inputs: ModelInputs = {
    inputIds: g.input(INPUT.inputIds, 'int64', ['B', 'T']),
    positionIds: g.input(INPUT.positionIds, 'int64', ['B', 'T']),
    attentionBias: g.input(INPUT.attentionBias, o.dtype, ['B', 1, 'T', 'T']),
  };
  const labelIndex = g.input(INPUT.labelIndex, 'int64', ['L']);
  const targets = g.input(INPUT.targets, 'int64', ['L']);
  const weights = g.input(INPUT.lossWeights, o.dtype, ['L']);
  const lora = new LoraSet(g, o.targets, o.dtype, o.dropout);
  const vb = new VarBuilder(new WeightStore(g, o.inventory, o.dtype, o.tensors));
  const { hidden, head } = spec.family === 'gpt2' ? gpt2Hidden(spec, vb, inputs, lora) : llamaHidden(spec, vb, inputs, lora, o.dtype);
  // lm_head only on the rows whose next label counts (same numbers per row as the full [B*T, vocab] logits).
  const rows = G.gather(hidden, labelIndex);
  const logits = lora.apply('lm_head', rows, G.gemm(rows, head, { transB: true, name: 'lm_head.Gemm' }), labelIndex);
  lora.checkAllUsed();
  const loss = g.scope('loss', () => weightedCrossEntropy(logits, G.unsqueeze(targets, [1]), G.unsqueeze(weights, [1])));
  return { g, lora, loss };
}

function outputUpdates(g: Graph, updated: ReturnType<typeof clipAndAdamW>['updated']): void {
  for (const u of updated) {
    g.output(u.param, newName(u.name));
    g.output(u.expAvg, newName(expAvgName(u.name)));
    g.output(u.expAvgSq, newName(expAvgSqName(u.name)));
  }
}

/** One optimizer step in one graph: inputs batch + params + moments + lr + step; outputs loss, grad_norm, new state. */
export function buildStepGraph(o: ModelGraphOptions): Graph {
  const { g, lora, loss } = buildForward('peft_step', o);
  const grads = G.gradients(g, loss, lora.params.map((p) => p.value));
  const scalars = adamwInputs(g, o.dtype, o.optimizer);
  const items: ParamGrad[] = lora.params.map((p) => ({
    name: p.key,
    param: p.value,
    grad: grads.get(p.value) as Value,
    expAvg: g.input(expAvgName(p.key), o.dtype, p.shape),
    expAvgSq: g.input(expAvgSqName(p.key), o.dtype, p.shape),
  }));
  const { gradNorm, updated } = clipAndAdamW(g, items, o.optimizer, scalars);
  g.output(loss, OUTPUT.loss);
  g.output(gradNorm, OUTPUT.gradNorm);
  outputUpdates(g, updated);
  return g;
}

/** Forward + backward of one micro-batch: outputs its loss share and the gradients (already 1/N_step weighted). */
export function buildGradGraph(o: ModelGraphOptions): Graph {
  const { g, lora, loss } = buildForward('peft_grad', o);
  const grads = G.gradients(g, loss, lora.params.map((p) => p.value));
  g.output(loss, OUTPUT.loss);
  for (const p of lora.params) g.output(grads.get(p.value) as Value, gradName(p.key));
  return g;
}

/** Clip + AdamW on accumulated gradients (inputs `grad.<key>`), for gradient accumulation > 1. */
export function buildApplyGraph(params: { key: string; shape: number[] }[], optimizer: OptimizerOptions, dtype: ComputeDtype): Graph {
  const g = new G.Graph('peft_apply');
  const items: ParamGrad[] = params.map((p) => ({
    name: p.key,
    param: g.input(p.key, dtype, p.shape),
    grad: g.input(gradName(p.key), dtype, p.shape),
    expAvg: g.input(expAvgName(p.key), dtype, p.shape),
    expAvgSq: g.input(expAvgSqName(p.key), dtype, p.shape),
  }));
  const { gradNorm, updated } = clipAndAdamW(g, items, optimizer, adamwInputs(g, dtype, optimizer));
  g.output(gradNorm, OUTPUT.gradNorm);
  outputUpdates(g, updated);
  return g;
}

/** Forward + loss only (evalLoss: weights 1 give the summed loss). */
export function buildEvalGraph(o: ModelGraphOptions): Graph {
  const { g, loss } = buildForward('peft_eval', { ...o, dropout: 0 });
  g.output(loss, OUTPUT.loss);
  return g;
}
