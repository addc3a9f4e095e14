// The trainer's real collaborators (hub/local model resolution, model inventory, PEFT target resolution,
// tokenizer, device choice, the ORT engine), wired once so the CLI, the worker and the tests share them.
import { loadModel } from '../hf/loadModel';
import { resolveModel } from '../hf/resolveModel';
import { loadTokenizer, type HfTokenizer } from '../hf/tokenizer';
import { resolveTargets } from '../peft/resolve';
import { chooseDevice, runtimeProbes } from '../runtime/device';
import type { DataTokenizer } from './data/formats';
import { createEngine } from './engine';
import { availableHostMemory } from '../memory/fit';
import type { TrainerDeps } from './setup';

/** The data pipeline's view of an HF tokenizer. */
export function dataTokenizer(t: HfTokenizer): DataTokenizer {
  return {
    encode: (text, addSpecialTokens) => t.encode(text, { addSpecialTokens }),
    applyChatTemplate: (messages, addGenerationPrompt) => t.applyChatTemplate(messages.map((m) => ({ role: m.role, content: m.content })), { addGenerationPrompt }),
    eosTokenId: t.eosTokenId,
    padTokenId: t.padTokenId,
    decode: (ids) => t.decode(ids),
    idToToken: (id) => t.idToToken(id),
    specialTokenIds: t.specialTokenIds,
  };
}

export const defaultDeps: TrainerDeps = {
  resolveModel: (pathOrId, signal, onProgress) => resolveModel(pathOrId, { ...(signal !== undefined ? { signal } : {}), ...(onProgress !== undefined ? { onProgress } : {}) }),
  loadModel,
  resolveTargets: (config, inventory) => {
    const r = resolveTargets(config, inventory);
    const unmatched = typeof config.target_modules === 'string' ? [] : r.entries.filter((e) => e.matched.length === 0).map((e) => e.entry);
    return { targets: r.targets, targetModules: r.targetModules, unmatched };
  },
  loadTokenizer: async (dir) => dataTokenizer(await loadTokenizer(dir)),
  chooseDevice: (request) => chooseDevice(request, runtimeProbes),
  createEngine,
  availableMemory: availableHostMemory,
};
