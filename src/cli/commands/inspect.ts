// `peft-studio inspect MODEL [--json]`: a base model's architecture, hyper-parameters and module inventory by layer,
// read from config.json and the safetensors headers only (the names target_modules and rank_pattern match against).
import { archOf } from '../../core/arch/registry';
import type { CliCommand } from '../command';
import { UsageError } from '../../core/errors';
import { modelDirOf } from '../modelArg';
import { loadModel } from '../../core/hf/loadModel';
import type { ModelInventory, ModuleInfo } from '../../core/hf/types';
import { defaultTargetModules } from '../../core/peft/defaults';
import { layerRanges, thousands } from './count';

function shapeOf(m: ModuleInfo): string {
  const kind = { linear: 'Linear', conv1d: 'Conv1D', embedding: 'Embedding', layernorm: 'LayerNorm', rmsnorm: 'RMSNorm' }[m.kind];
  const dims = m.kind === 'layernorm' || m.kind === 'rmsnorm' ? `${m.outFeatures}` : `${m.inFeatures} -> ${m.outFeatures}`;
  return `${kind}(${dims}${m.hasBias ? ', bias' : ''})`;
}

/** The text report of `inspect`. */
export function inspectText(inv: ModelInventory): string {
  const s = inv.spec;
  const lines = [
    `${s.architectures.join(', ')} (model_type ${s.modelType})  ${inv.dir}`,
    `parameters: ${thousands(inv.totalParameters)}  (from ${inv.source === 'safetensors' ? 'safetensors headers' : 'config.json only'}${inv.parameters[0] !== undefined ? `, dtype ${inv.parameters[0].dtype}` : ''})`,
    '',
    `  vocab_size ${s.vocabSize}  hidden_size ${s.hiddenSize}  intermediate_size ${s.intermediateSize}  layers ${s.numLayers}`,
    `  heads ${s.numHeads}  kv_heads ${s.numKvHeads}  head_dim ${s.headDim}  max_position_embeddings ${s.maxPositionEmbeddings}`,
    `  ${archOf(s).normEpsKey} ${s.normEps}  hidden_act ${s.hiddenAct}  tie_word_embeddings ${s.tieWordEmbeddings}` +
      archOf(s).inspectExtra(s),
    `  biases: q/k/v ${s.qkvBias}  o ${s.oBias}  mlp ${s.mlpBias}  dtype ${s.torchDtype ?? 'unset'}`,
    '',
  ];
  const top = inv.modules.filter((m) => m.layer === null);
  const width = Math.max(...inv.modules.map((m) => m.name.length)) + 2;
  const row = (m: ModuleInfo, name = m.name): string => {
    const tied = m.isOutputHead && s.tieWordEmbeddings ? `  (tied to ${m.weightKey})` : '';
    return `  ${name.padEnd(width)}${shapeOf(m)}${tied}`;
  };
  const before = top.filter((m) => m.kind === 'embedding');
  for (const m of before) lines.push(row(m));
  // Decoder layers: show layer 0 in full, then collapse layers with the same structure.
  if (s.numLayers > 0) {
    const sig = (i: number): string => inv.modules.filter((m) => m.layer === i).map((m) => `${m.name.replace(/\.\d+\./, '.*.')}:${shapeOf(m)}`).join('|');
    const first = sig(0);
    const same: number[] = [];
    for (let i = 0; i < s.numLayers; i++) if (sig(i) === first) same.push(i);
    const prefix = archOf(s).layersPrefix;
    lines.push(`  ${prefix}.{${layerRanges(same)}}  (${same.length} layers, each:)`);
    for (const m of inv.modules.filter((x) => x.layer === 0)) lines.push(row(m, `  .${m.name.slice(`${prefix}.0.`.length)}`));
    for (let i = 0; i < s.numLayers; i++) {
      if (same.includes(i)) continue;
      lines.push(`  ${prefix}.${i}  (differs)`);
      for (const m of inv.modules.filter((x) => x.layer === i)) lines.push(row(m));
    }
  }
  for (const m of top.filter((x) => x.kind !== 'embedding')) lines.push(row(m));
  const defaults = defaultTargetModules(s.modelType);
  const linear = [...new Set(inv.modules.filter((m) => (m.kind === 'linear' || m.kind === 'conv1d') && !m.isOutputHead).map((m) => m.name.split('.').pop() ?? ''))];
  lines.push('', `LoRA targets: PEFT default ${JSON.stringify(defaults)}; "all-linear" = ${JSON.stringify(linear)}`);
  return lines.join('\n');
}

export const inspectCommand: CliCommand = {
  name: 'inspect',
  summary: 'Show a base model\'s architecture, hyper-parameters and modules by layer',
  help: [
    'Usage: peft-studio inspect MODEL [--json]',
    '',
    'MODEL is a local Hugging Face model folder (config.json, and model.safetensors or a shard index; config.json',
    'alone works too). Only config.json and the safetensors headers are read. Module names are the ones',
    'target_modules, exclude_modules and rank_pattern match against.',
    '',
    'Options:',
    '  --json   print {"dir","source","spec","totalParameters","modules","parameters"}',
  ].join('\n'),
  options: { json: { type: 'boolean' } },
  async run(args, io) {
    const [dir, ...extra] = args.positionals;
    if (dir === undefined) throw new UsageError('missing MODEL', 'Example: peft-studio inspect ./models/my-model');
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const inv = loadModel(modelDirOf(dir));
    if (args.values['json'] === true) {
      io.out(JSON.stringify({ dir: inv.dir, source: inv.source, spec: inv.spec, totalParameters: inv.totalParameters, modules: inv.modules, parameters: inv.parameters }));
      return 0;
    }
    io.out(inspectText(inv));
    return 0;
  },
};
