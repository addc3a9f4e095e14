// config.json → ModelSpec: checks model_type and architectures against the architecture registry (core/arch) and
// hands the rest to the family's descriptor, which applies transformers' config class defaults and refusals.
import { InputError } from '../errors';
import { didYouMean } from '../util/didYouMean';
import { Reader, isObject } from '../arch/configReader';
import { SUPPORTED_ARCHITECTURES, SUPPORTED_MODEL_TYPES, archForModelType } from '../arch/registry';
import type { ModelSpec } from './types';

export { SUPPORTED_ARCHITECTURES, SUPPORTED_MODEL_TYPES };

/** Parse a config.json object into a ModelSpec. `file` names the config in errors. */
export function parseModelConfig(json: unknown, file: string): ModelSpec {
  if (!isObject(json)) throw new InputError('model-config-not-object', 'config.json must contain a JSON object', { file });
  const modelType = json['model_type'];
  const supportedTypes = Object.keys(SUPPORTED_MODEL_TYPES);
  if (typeof modelType !== 'string') {
    throw new InputError('model-config-model-type', 'config.json has no "model_type"', { file, hint: `Supported model types: ${supportedTypes.join(', ')}` });
  }
  const info = Object.hasOwn(SUPPORTED_MODEL_TYPES, modelType) ? SUPPORTED_MODEL_TYPES[modelType] : undefined;
  if (info === undefined) {
    throw new InputError('model-config-model-type', `model_type "${modelType}" is not supported`, {
      file, hint: `Supported model types: ${supportedTypes.join(', ')} (architectures ${SUPPORTED_ARCHITECTURES.join(', ')}).${didYouMean(modelType, supportedTypes)}`,
    });
  }
  const archRaw = json['architectures'];
  let architectures = [...info.architectures];
  if (Array.isArray(archRaw) && archRaw.length > 0) {
    architectures = archRaw.map(String);
    const bad = architectures.find((a) => !info.architectures.includes(a));
    if (bad !== undefined) {
      throw new InputError('model-config-architecture', `architecture "${bad}" is not supported`, {
        file, hint: `Supported architectures: ${SUPPORTED_ARCHITECTURES.join(', ')}.${didYouMean(bad, SUPPORTED_ARCHITECTURES)}`,
      });
    }
  }
  const dtypeRaw = json['dtype'] ?? json['torch_dtype'];
  const torchDtype = typeof dtypeRaw === 'string' ? dtypeRaw.replace(/^torch\./, '') : null;
  const arch = archForModelType(modelType) as NonNullable<ReturnType<typeof archForModelType>>;
  return arch.parseConfig({ json, r: new Reader(json, file), file, modelType, architectures, torchDtype, d: info.defaults });
}
