// Shipping an adapter in a real VS Code: Start Adapter Server from the palette (a child process; the status bar
// shows its port, and it answers OpenAI requests for the run's adapter), and Export Adapter… from the Runs tree.
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { quickInput, REPO, runWhenAvailable, waitFor } from './harness.mjs';

const PORT = 18000 + Math.floor(Math.random() * 2000);

/** A LoRA adapter on q_proj (F32 safetensors written by hand: an 8-byte header length, the JSON header, the data). */
function writeAdapter(dir, modelDir, r = 4) {
  const cfg = JSON.parse(readFileSync(path.join(modelDir, 'config.json'), 'utf8'));
  const hidden = cfg.hidden_size;
  const out = cfg.num_attention_heads * (cfg.head_dim ?? hidden / cfg.num_attention_heads);
  const header = {};
  const parts = [];
  let offset = 0;
  let seed = 1;
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    for (const [w, shape] of [['A', [r, hidden]], ['B', [out, r]]]) {
      const data = new Float32Array(shape[0] * shape[1]).map(() => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.4);
      header[`base_model.model.model.layers.${l}.self_attn.q_proj.lora_${w}.weight`] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
      parts.push(Buffer.from(data.buffer));
      offset += data.byteLength;
    }
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'adapter_model.safetensors'), Buffer.concat([len, Buffer.from(json), ...parts]));
  writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r, lora_alpha: 8, target_modules: ['q_proj'], base_model_name_or_path: modelDir }));
}

export async function workspace() {
  const dir = mkdtempSync(path.join(tmpdir(), 'peft-e2e-serve-'));
  const model = path.join(dir, 'models', 'tiny');
  const cli = createRequire(import.meta.url)(path.join(REPO, 'dist', 'cli.js'));
  const io = { out: () => {}, err: (t) => process.stderr.write(`${t}\n`), isTTY: false };
  if ((await cli.main(['fixture', '--arch', 'llama', model], io)) !== 0) throw new Error('peft-studio fixture failed');
  writeFileSync(path.join(dir, 'peft-train.yaml'), 'base_model: ./models/tiny\nadapter_config: ./adapter_config.json\ndataset:\n  train: data/train.jsonl\noutput_dir: runs\n');
  writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj'] }, null, 2));
  const run = path.join(dir, 'runs', 'e2e-run');
  writeAdapter(path.join(run, 'adapter'), model);
  const started = '2026-12-01T10:00:00.000Z';
  writeFileSync(path.join(run, 'run.json'), JSON.stringify({
    name: 'e2e-run', status: 'completed', config_file: path.join(dir, 'peft-train.yaml'), base_model: model, device: 'cpu',
    started_at: started, finished_at: started, max_steps: 2, last_step: 2,
  }, null, 2));
  writeFileSync(path.join(run, 'metrics.jsonl'), [
    { event: 'start', run_dir: run, run_name: 'e2e-run', trainable: 1, total: 2, device: 'cpu', base_model: model, max_steps: 2, time: started },
    { event: 'step', step: 2, epoch: 1, loss: 1.5, lr: 1e-4, grad_norm: 1, tokens: 64, tokens_per_s: 100, elapsed_s: 1 },
    { event: 'done', run_dir: run, adapter_dir: path.join(run, 'adapter'), final_loss: 1.5 },
  ].map((l) => JSON.stringify(l)).join('\n') + '\n');
  return dir;
}

async function answerInput(vscode, expected, value) {
  const input = quickInput(vscode);
  await waitFor(async () => (await input.isVisible().catch(() => false)) && expected.test(await input.inputValue()), 15_000, `an input box holding ${expected}`);
  if (value !== undefined) await input.fill(value);
  await vscode.page.keyboard.press('Enter');
}

async function statusText(vscode) {
  return (await vscode.page.locator('.statusbar-item').allInnerTexts()).join(' | ');
}

export const tests = [
  {
    name: 'Start Adapter Server from the palette: the status bar shows the port, the server answers for the run\'s adapter; Stop ends it',
    timeoutMs: 180_000,
    async run(vscode) {
      await runWhenAvailable(vscode, 'PEFT: Start Adapter Server');
      const row = vscode.page.locator('.quick-input-widget .quick-input-list .monaco-list-row').filter({ hasText: 'e2e-run' }).first();
      await row.waitFor({ state: 'visible', timeout: 30_000 });
      await row.click(); // ticks it (multi-select)
      await vscode.page.keyboard.press('Enter');
      await answerInput(vscode, /^8000$/, String(PORT));
      await waitFor(async () => (await statusText(vscode)).includes(`PEFT :${PORT}`), 120_000, `the status bar item "PEFT :${PORT}"`);
      const base = `http://127.0.0.1:${PORT}`;
      const models = await (await fetch(`${base}/v1/models`)).json();
      const ids = models.data.map((m) => m.id);
      if (ids[0] !== 'tiny' || ids[1] !== 'e2e-run') throw new Error(`/v1/models: ${JSON.stringify(ids)}`);
      const c = await (await fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'e2e-run', prompt: 'hello', max_tokens: 4, ignore_eos: true }) })).json();
      if (c.model !== 'e2e-run' || c.usage?.completion_tokens !== 4) throw new Error(`completion: ${JSON.stringify(c)}`);
      await waitFor(async () => /PEFT :\d+ · \d+\.\d req\/s/.test(await statusText(vscode)), 10_000, 'the requests/s in the status bar');
      await vscode.screenshot('serve-status-bar');
      await runWhenAvailable(vscode, 'PEFT: Stop Adapter Server');
      await waitFor(async () => !(await statusText(vscode)).includes(`PEFT :${PORT}`), 30_000, 'the status bar item to go');
      await waitFor(async () => fetch(`${base}/health`).then(() => false, () => true), 15_000, 'the server to stop listening');
    },
  },
  {
    name: 'Export Adapter… from the Runs tree writes a merged Hugging Face folder',
    timeoutMs: 180_000,
    async run(vscode, ws) {
      await vscode.runCommand('PEFT Studio: Focus on Runs View');
      const run = vscode.page.locator('.monaco-list-row').filter({ hasText: 'e2e-run' }).first();
      await run.waitFor({ timeout: 30_000 });
      await run.click({ button: 'right' });
      const item = vscode.page.locator('.monaco-menu .action-item').filter({ hasText: 'Export Adapter…' }).first();
      await item.waitFor({ state: 'visible', timeout: 10_000 });
      await item.hover();
      await item.click();
      const fmt = vscode.page.locator('.quick-input-widget .quick-input-list .monaco-list-row').filter({ hasText: 'Merged Hugging Face folder' }).first();
      // A click on a context-menu item is sometimes lost while the menu animates in: the highlighted item takes Enter.
      if (!(await fmt.waitFor({ state: 'visible', timeout: 5_000 }).then(() => true, () => false))) {
        if (await item.isVisible().catch(() => false)) await vscode.page.keyboard.press('Enter');
        await fmt.waitFor({ state: 'visible', timeout: 15_000 });
      }
      await fmt.click();
      await answerInput(vscode, /models[/\\]tiny$/);
      await answerInput(vscode, /export[/\\]merged$/);
      const out = path.join(ws, 'runs', 'e2e-run', 'export', 'merged');
      await waitFor(() => existsSync(path.join(out, 'model.safetensors')) && existsSync(path.join(out, 'config.json')), 120_000, 'the merged model');
      await vscode.waitForNotification(/Exported e2e-run/, 30_000);
      await vscode.screenshot('serve-exported');
    },
  },
];
