// `--quantization BITS[:BLOCK]` (generate) → the recipe's `quantization:` value, checked by the same schema rules
// (src/core/train/recipeSchema.ts) so that the flag and the recipe key accept exactly the same settings.
import { UsageError } from '../errors';
import { checkRecipeValue, recipeField, type RecipeField } from '../train/recipeSchema';
import type { QuantizationConfig } from './blockQuant';

/** Parses `4` or `4:64`; `none` / `off` = full precision (null). */
export function parseQuantizationFlag(text: string, flag = '--quantization'): QuantizationConfig | null {
  const t = text.trim().toLowerCase();
  if (t === 'none' || t === 'off') return null;
  const m = /^(\d+)(?::(\d+))?$/.exec(t);
  if (m === null) throw new UsageError(`${flag} needs BITS or BITS:BLOCK_SIZE (e.g. 4 or 4:32), got "${text}"`);
  const bits = Number(m[1]);
  const blockSize = m[2] !== undefined ? Number(m[2]) : (recipeField('quantization.block_size') as RecipeField).default as number;
  for (const [key, value] of [['quantization.bits', bits], ['quantization.block_size', blockSize]] as const) {
    const why = checkRecipeValue(recipeField(key) as RecipeField, value);
    if (why !== null) throw new UsageError(`${flag}: ${why}`);
  }
  return { bits: bits as 4, block_size: blockSize as QuantizationConfig['block_size'] };
}
