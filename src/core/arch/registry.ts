// The architecture registry: every supported family's descriptor, looked up by config.json model_type (or by a
// parsed ModelSpec). Adding a family = adding its descriptor to ARCHS (and its tests).
import { InputError } from '../errors';
import type { ModelSpec } from '../hf/types';
import { gemma2Arch, gemma3TextArch } from './gemma2';
import { gpt2Arch } from './gpt2';
import { llamaArch } from './llama';
import { phi3Arch } from './phi3';
import { qwen3Arch } from './qwen3';
import type { ArchDescriptor, ModelTypeInfo } from './types';

export const ARCHS: readonly ArchDescriptor[] = [llamaArch, gpt2Arch, qwen3Arch, phi3Arch, gemma2Arch, gemma3TextArch];

const BY_MODEL_TYPE = new Map<string, ArchDescriptor>(ARCHS.flatMap((a) => Object.keys(a.modelTypes).map((t) => [t, a] as const)));

/** model_type → accepted architectures and config class defaults, over all families. */
export const SUPPORTED_MODEL_TYPES: Readonly<Record<string, ModelTypeInfo>> = Object.fromEntries(ARCHS.flatMap((a) => Object.entries(a.modelTypes)));

export const SUPPORTED_ARCHITECTURES: readonly string[] = Object.values(SUPPORTED_MODEL_TYPES).flatMap((t) => t.architectures);

/** The descriptor of a model_type, or undefined. */
export function archForModelType(modelType: string): ArchDescriptor | undefined {
  return BY_MODEL_TYPE.get(modelType);
}

/** The descriptor of a parsed spec (its model_type is always registered: parseModelConfig checked it). */
export function archOf(spec: Pick<ModelSpec, 'modelType'>): ArchDescriptor {
  const a = BY_MODEL_TYPE.get(spec.modelType);
  if (a === undefined) throw new InputError('model-config-model-type', `model_type "${spec.modelType}" is not supported`, { hint: `Supported model types: ${[...BY_MODEL_TYPE.keys()].join(', ')}` });
  return a;
}
