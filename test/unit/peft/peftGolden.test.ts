import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseModelConfig } from '../../../src/core/hf/config';
import { inventoryFromConfig } from '../../../src/core/hf/inventory';
import { checkTargetModuleExists, patternValue } from '../../../src/core/peft/match';
import type { MatchConfig } from '../../../src/core/peft/match';
import { namedModules } from '../../../src/core/peft/resolve';

interface GoldenCase { cfg: MatchConfig; rank_pattern: Record<string, number>; matched: string[]; excluded: string[]; ranks: Record<string, number> }

// Golden answers computed by PEFT v0.20.0's own check_target_module_exists / get_pattern_key
// (fixtures/genPeftMatchGolden.py runs the extracted Python functions over these module names).
const golden = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'peftMatchGolden.json'), 'utf8')) as { names: string[]; cases: GoldenCase[] };

describe('peft/match agrees with PEFT v0.20.0 on 120 generated configs', () => {
  it('module names are those of the tiny llama + gpt2 the golden file was made from', () => {
    const l = inventoryFromConfig(parseModelConfig({ model_type: 'llama', hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 4 }, 'c'), '/m');
    const g = inventoryFromConfig(parseModelConfig({ model_type: 'gpt2', n_embd: 16, n_head: 4, n_layer: 3 }, 'c'), '/g');
    assert.deepEqual([...namedModules(l), ...namedModules(g)].map((m) => m.name), golden.names);
  });

  it('target/exclude/layers/modules_to_save matching and rank_pattern lookups match PEFT exactly', () => {
    let checked = 0;
    for (const c of golden.cases) {
      const matched = golden.names.filter((n) => checkTargetModuleExists(c.cfg, n) === 'matched');
      const excluded = golden.names.filter((n) => checkTargetModuleExists(c.cfg, n) === 'excluded');
      assert.deepEqual(matched, c.matched, JSON.stringify(c.cfg));
      assert.deepEqual(excluded, c.excluded, JSON.stringify(c.cfg));
      const ranks: Record<string, number> = {};
      for (const n of golden.names) {
        const r = patternValue(c.rank_pattern, n, 8);
        if (r !== 8) ranks[n] = r;
      }
      assert.deepEqual(ranks, c.ranks, JSON.stringify(c.rank_pattern));
      checked += golden.names.length;
    }
    assert.equal(checked, 120 * golden.names.length);
  });
});
