import { strict as assert } from 'node:assert';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeProject, recipe } from './project';
import { runTraining, TrainingFailed } from '../../../src/core/train/trainer';
import { defaultDeps } from '../../../src/core/train/deps';
import { readSafetensorsHeader, readTensorAsFloat32 } from '../../../src/core/safetensors/read';
import type { DoneEvent, RunEvent, RunInfo, StepEvent, SystemEvent } from '../../../src/shared/protocol';

let root: string;
let proj: string;

async function train(name: string, text: string, more: { resume?: string; stopAt?: number } = {}): Promise<{ events: RunEvent[]; done: DoneEvent }> {
  const file = join(proj, `${name}.yaml`);
  writeFileSync(file, text);
  const events: RunEvent[] = [];
  const ac = new AbortController();
  const done = await runTraining({
    configFile: file,
    signal: ac.signal,
    ...(more.resume !== undefined ? { resume: more.resume } : {}),
    onEvent: (e) => {
      events.push(e);
      if (e.event === 'step' && e.step === more.stopAt) ac.abort();
    },
  });
  return { events, done };
}

const steps = (ev: RunEvent[]): StepEvent[] => ev.filter((e): e is StepEvent => e.event === 'step');

describe('trainer (real runs on a tiny Llama fixture)', function () {
  this.timeout(120000);

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'peft-trainer-'));
    proj = join(root, 'proj');
    await makeProject(proj);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('trains: the loss falls, the run folder is complete and metrics.jsonl holds the contract records', async () => {
    const { events, done } = await train('fall', recipe({ lr: '5.0e-2', training: '  max_steps: 24\n  eval_steps: 12\n  save_steps: 12\n', top: 'run_name: fall\n' }));
    const s = steps(events);
    assert.equal(s.length, 24);
    const mean = (xs: StepEvent[]): number => xs.reduce((a, e) => a + e.loss, 0) / xs.length;
    assert.ok(mean(s.slice(-6)) < mean(s.slice(0, 6)) - 0.2 && s[23]!.loss < s[0]!.loss - 0.3, `loss did not fall: ${mean(s.slice(0, 6))} → ${mean(s.slice(-6))}`);
    assert.equal(s[0]!.lr, 0); // linear warmup: the first step uses lambda(0) = 0
    assert.equal(s[1]!.lr, 5e-2 / 2);
    const evals = events.filter((e) => e.event === 'eval');
    assert.deepEqual(evals.map((e) => e.step), [12, 24]);
    const dir = done.run_dir;
    assert.equal(dir, join(proj, 'runs', 'fall'));
    // metrics.jsonl = exactly the emitted records, one per line
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RunEvent);
    assert.deepEqual(lines, events.filter((e) => e.event !== 'log'));
    const contract = new Set(['start', 'step', 'eval', 'checkpoint', 'system', 'alert', 'done', 'error']);
    assert.ok(lines.every((e) => contract.has(e.event)), 'metrics.jsonl holds only the record kinds of CONTRACTS §4');
    // A healthy run raises no loss alert. Throughput and memory alerts watch the machine (another process taking
    // the cores, a full host), so they may fire on a busy CI machine and are not asserted here (alerts.test.ts
    // checks their rules on scripted streams).
    const lossAlerts = lines.filter((e) => e.event === 'alert' && (e.kind === 'divergence' || e.kind === 'non-finite'));
    assert.deepEqual(lossAlerts, [], 'a healthy run raises no divergence or NaN alert');
    // system events: after the first logged step, then every 2 s or so, and after the last step
    const sys = lines.filter((e): e is SystemEvent => e.event === 'system');
    assert.ok(sys.length >= 2, String(sys.length));
    assert.equal(sys[0]!.step, 1);
    assert.equal(sys[sys.length - 1]!.step, 24);
    for (const e of sys) {
      assert.deepEqual(Object.keys(e), ['event', 'step', 'elapsed_s', 'cpu_percent', 'cpu_percent_total', 'cores', 'rss_bytes', 'peak_rss_bytes', 'mem_available_bytes', 'mem_total_bytes']);
      assert.equal(e.cores, availableParallelism());
      assert.ok(e.cpu_percent > 0 && e.cpu_percent <= 100 * e.cores * 1.1, `cpu ${e.cpu_percent} % of a core`);
      assert.ok(Math.abs(e.cpu_percent_total - e.cpu_percent / e.cores) < 0.11, JSON.stringify(e));
      assert.ok(e.rss_bytes > 20 * 2 ** 20 && e.rss_bytes <= e.peak_rss_bytes, JSON.stringify(e));
      assert.ok(e.mem_available_bytes > 0 && e.mem_available_bytes < e.mem_total_bytes, JSON.stringify(e));
      assert.equal(e.gpu, undefined); // a cpu run has no GPU figures
    }
    // the free-form log records sit beside it
    const logs = readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RunEvent);
    assert.deepEqual(logs, events.filter((e) => e.event === 'log'));
    assert.ok(logs.length > 0);
    const start = events[0]!;
    assert.equal(start.event, 'start');
    if (start.event === 'start') {
      assert.equal(start.trainable, 2 * (4 * (64 + 64) + 4 * (64 + 32) + 4 * (128 + 64)));
      assert.equal(start.device, 'cpu');
      assert.equal(start.max_steps, 24);
      assert.ok((start.memory_estimate_bytes ?? 0) > 50 * 2 ** 20, String(start.memory_estimate_bytes));
      assert.equal(start.modules?.length, 6);
    }
    for (const e of s) {
      assert.deepEqual(Object.keys(e).slice(0, 9), ['event', 'step', 'epoch', 'loss', 'lr', 'grad_norm', 'tokens', 'tokens_per_s', 'elapsed_s']);
    }
    assert.equal(s[23]!.epoch, 4); // 24 steps × 4 sequences / 24 examples
    assert.equal(events[events.length - 1]!.event, 'done');
    assert.equal(done.final_loss, s[23]!.loss);
    // run.json, checkpoints and the PEFT adapter
    const info = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunInfo;
    assert.equal(info.status, 'completed');
    assert.equal(info.last_step, 24);
    assert.deepEqual(readdirSync(join(dir, 'checkpoints')).sort(), ['step-12', 'step-24']);
    for (const f of ['adapter_model.safetensors', 'adapter_config.json', 'optimizer.safetensors', 'trainer_state.json']) {
      assert.ok(existsSync(join(dir, 'checkpoints', 'step-12', f)), f);
    }
    const h = readSafetensorsHeader(join(done.adapter_dir, 'adapter_model.safetensors'));
    assert.deepEqual(h.metadata, { format: 'pt' });
    const a = h.tensors.get('base_model.model.model.layers.1.mlp.down_proj.lora_A.weight')!;
    assert.deepEqual([a.dtype, a.shape], ['F32', [4, 128]]);
    assert.deepEqual(h.tensors.get('base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight')!.shape, [32, 4]);
    assert.equal(h.tensors.size, 12);
    const cfg = JSON.parse(readFileSync(join(done.adapter_dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg['peft_type'], 'LORA');
    assert.equal(cfg['base_model_name_or_path'], join(proj, 'model'));
    assert.equal(cfg['r'], 4);
    // B moved away from its zero init
    const b = readTensorAsFloat32(h.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight')!);
    assert.ok(b.some((x) => x !== 0));
  });

  it('DoRA with lora_dropout and accumulation resumes exactly; the adapter holds lora_magnitude_vector, started at ||W|| (B = 0)', async () => {
    writeFileSync(join(proj, 'dora_config.json'), JSON.stringify({ r: 4, lora_alpha: 8, lora_dropout: 0.1, target_modules: ['q_proj', 'down_proj'], use_dora: true, task_type: 'CAUSAL_LM' }));
    const cfg = recipe({ training: '  max_steps: 4\n', top: 'adapter_config: dora_config.json\n' });
    const straight = await train('dora-straight', cfg + 'run_name: dora-straight\n');
    const first = await train('dora-halves', cfg + 'run_name: dora-halves\n', { stopAt: 2 });
    const second = await train('dora-halves', cfg + 'run_name: dora-halves\n', { resume: join(proj, 'runs', 'dora-halves') });
    assert.deepEqual([...steps(first.events), ...steps(second.events)].map((e) => e.loss), steps(straight.events).map((e) => e.loss));
    const file = (d: string): string => join(d, 'adapter_model.safetensors');
    assert.ok(readFileSync(file(second.done.adapter_dir)).equals(readFileSync(file(straight.done.adapter_dir))), 'adapters differ');
    const h = readSafetensorsHeader(file(straight.done.adapter_dir));
    const mags = [...h.tensors.keys()].filter((k) => k.endsWith('.lora_magnitude_vector'));
    assert.equal(mags.length, 4); // 2 layers × (q_proj, down_proj)
    // Step 0 is PEFT's init (B = 0): m = ||W|| per row; 4 AdamW steps (warmup 2, lr ≤ 5e-3) move each element by ≤ ~lr per step.
    const q = readSafetensorsHeader(join(proj, 'model', 'model.safetensors')).tensors.get('model.layers.0.self_attn.q_proj.weight')!;
    const w = readTensorAsFloat32(q);
    const [out, inF] = q.shape as [number, number];
    const m = readTensorAsFloat32(h.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector')!);
    assert.equal(m.length, out);
    for (let o = 0; o < out; o++) {
      let n = 0;
      for (let i = 0; i < inF; i++) n += w[o * inF + i]! ** 2;
      assert.ok(Math.abs(m[o]! - Math.sqrt(n)) < 0.02, `row ${o}: m ${m[o]} vs ||W|| ${Math.sqrt(n)}`);
    }
    const start = straight.events[0]!;
    assert.ok(start.event === 'start');
    const mods = start.modules ?? [];
    assert.equal(mods.length, 4);
    assert.equal(start.trainable, mods.reduce((a, x) => a + x.params, 0));
    assert.equal(mods[0]!.params, 4 * (mods[0]!.in + mods[0]!.out) + mods[0]!.out);
  });

  it('resumes exactly: 8 steps straight = 4 steps, stop, resume 4 (same losses, same adapter bytes)', async () => {
    const cfg = recipe({ training: '  max_steps: 8\n', dataset: '  shuffle: true\n' });
    const straight = await train('straight', cfg + 'run_name: straight\n');
    const first = await train('halves', cfg + 'run_name: halves\n', { stopAt: 4 });
    assert.equal(first.done.stopped, true);
    assert.equal(steps(first.events).length, 4);
    const halvesDir = join(proj, 'runs', 'halves');
    assert.equal((JSON.parse(readFileSync(join(halvesDir, 'run.json'), 'utf8')) as RunInfo).status, 'stopped');
    assert.ok(existsSync(join(halvesDir, 'checkpoints', 'step-4', 'trainer_state.json')));
    const second = await train('halves', cfg + 'run_name: halves\n', { resume: halvesDir });
    const start = second.events[0]!;
    assert.ok(start.event === 'start' && start.resumed_from_step === 4);
    const resumed = [...steps(first.events), ...steps(second.events)];
    assert.deepEqual(resumed.map((e) => e.step), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(resumed.map((e) => e.loss), steps(straight.events).map((e) => e.loss));
    assert.deepEqual(resumed.map((e) => e.lr), steps(straight.events).map((e) => e.lr));
    assert.deepEqual(resumed.map((e) => e.grad_norm), steps(straight.events).map((e) => e.grad_norm));
    const bytes = (d: string): Buffer => readFileSync(join(d, 'adapter_model.safetensors'));
    assert.ok(bytes(second.done.adapter_dir).equals(bytes(straight.done.adapter_dir)), 'adapters differ');
    // metrics.jsonl was appended: both halves are in it
    const lines = readFileSync(join(halvesDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RunEvent);
    assert.equal(lines.filter((e) => e.event === 'start').length, 2);
    assert.equal(steps(lines).length, 8);
    assert.equal((JSON.parse(readFileSync(join(halvesDir, 'run.json'), 'utf8')) as RunInfo).status, 'completed');
  });

  it('stops on a non-finite loss, names the step and what to try, keeps the last good checkpoint', async () => {
    let caught: unknown;
    const events: RunEvent[] = [];
    writeFileSync(join(proj, 'nan.yaml'), recipe({ lr: '1.0e+38', warmup: 0, training: '  max_steps: 6\n  max_grad_norm: 0\n  save_steps: 1\n', top: 'run_name: nan\n' }));
    try {
      await runTraining({ configFile: join(proj, 'nan.yaml'), onEvent: (e) => events.push(e) });
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof TrainingFailed, String(caught) + JSON.stringify(events.slice(-3)));
    const err = events[events.length - 1]!;
    assert.equal(err.event, 'error');
    if (err.event !== 'error') return;
    assert.equal(err.step, 2); // step 1's loss is computed before its (huge) update
    assert.match(err.message, /training diverged at step 2: the loss is NaN|training diverged at step 2: the (loss|gradient norm) is (NaN|Infinity)/);
    assert.match(err.message, /lower training\.learning_rate.*max_grad_norm.*check the data/);
    assert.equal(err.checkpoint, join(proj, 'runs', 'nan', 'checkpoints', 'step-1'));
    // the alert comes just before the error, and points at max_grad_norm (clipping is off) on its line of nan.yaml
    const alert = events[events.length - 2]!;
    assert.equal(alert.event, 'alert');
    if (alert.event !== 'alert') return;
    assert.deepEqual([alert.kind, alert.step, alert.key, alert.file], ['non-finite', 2, 'training.max_grad_norm', join(proj, 'nan.yaml')]);
    assert.equal(readFileSync(join(proj, 'nan.yaml'), 'utf8').split('\n')[alert.line! - 1], '  max_grad_norm: 0');
    const info = JSON.parse(readFileSync(join(proj, 'runs', 'nan', 'run.json'), 'utf8')) as RunInfo;
    assert.equal(info.status, 'failed');
    assert.equal(info.last_step, 1);
    assert.ok(!existsSync(join(proj, 'runs', 'nan', 'adapter')));
    assert.deepEqual(readdirSync(join(proj, 'runs', 'nan', 'checkpoints')), ['step-1']);
  });

  it('trains packed rows (position ids restart per example) and logs the packing in its notes', async () => {
    const { events, done } = await train('packed', recipe({ dataset: '  packing: true\n  shuffle: false\n', training: '  max_steps: 3\n', top: 'run_name: packed\n' }));
    const s = steps(events);
    assert.equal(s.length, 3);
    assert.ok(s.every((e) => Number.isFinite(e.loss) && e.loss > 0));
    // 24 examples packed into rows of 96 tokens: far fewer sequences than examples
    const note = events.find((e) => e.event === 'log' && e.message.startsWith('train data:'));
    assert.ok(note !== undefined && note.event === 'log');
    const m = /24 examples \(prompt_completion\) → (\d+) sequences/.exec(note.message);
    assert.ok(m !== null && Number(m[1]) < 12, note.message);
    // every row but the last is full: 4 rows × 96 tokens per step
    assert.equal(s[0]!.tokens, 4 * 96);
    assert.ok(existsSync(join(done.adapter_dir, 'adapter_model.safetensors')));
  });

  it('init_adapter continues from an existing adapter: its first loss is the trained one, not the fresh one', async () => {
    const fall = join(proj, 'runs', 'fall');
    const fallSteps = steps(readFileSync(join(fall, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RunEvent));
    const { events } = await train('cont', recipe({ lr: '5.0e-2', training: '  max_steps: 1\n', top: `run_name: cont\ninit_adapter: runs/fall/adapter\n` }));
    const first = steps(events)[0]!.loss;
    assert.ok(first < fallSteps[0]!.loss - 0.2, `${first} vs fresh ${fallSteps[0]!.loss}`);
    // with the wrong rank the shapes do not fit: the error names the tensor and both shapes
    writeFileSync(join(proj, 'adapter_r8.json'), JSON.stringify({ r: 8, lora_alpha: 8, target_modules: ['q_proj', 'v_proj', 'down_proj'], task_type: 'CAUSAL_LM' }));
    await assert.rejects(
      train('cont8', recipe({ top: 'adapter_config: adapter_r8.json\ninit_adapter: runs/fall/adapter\n', training: '  max_steps: 1\n' })),
      /adapter_model\.safetensors, tensor "base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight": the adapter tensor does not fit .*\(expected \[8, 64\], got \[4, 64\]\)/,
    );
  });

  it('bad input fails before a run folder exists, and an existing run folder is not overwritten', async () => {
    await assert.rejects(train('badkey', recipe({ training: '  max_step: 3\n' })), /unknown key "training.max_step"\. Did you mean "max_steps"\?/);
    await assert.rejects(train('again', recipe({ top: 'run_name: fall\n' })), /run folder already exists/);
    // a model folder without weights (validate and count work on config.json alone): refused before the run folder too
    const bare = join(proj, 'no-weights');
    mkdirSync(bare, { recursive: true });
    for (const f of readdirSync(join(proj, 'model')).filter((x) => x.endsWith('.json'))) copyFileSync(join(proj, 'model', f), join(bare, f));
    await assert.rejects(train('noweights', recipe({ top: 'run_name: no-weights-run\n' }).replace('base_model: ./model', 'base_model: ./no-weights')),
      /no model\.safetensors or model\.safetensors\.index\.json in the model folder/);
    assert.ok(!existsSync(join(proj, 'runs', 'no-weights-run')), 'no run folder for a refused start');
  });

  it('does not advance the LR schedule on a step the fp16 loss scaler skipped (HF Trainer semantics)', async () => {
    // The real engine, with its result for step 2 reported as skipped, as an fp16 overflow would (the overflow
    // itself is exercised on WebGPU in test/slow/webgpu/engineGpu.test.ts).
    const deps = {
      ...defaultDeps,
      createEngine: async (o: Parameters<typeof defaultDeps.createEngine>[0]) => {
        const eng = await defaultDeps.createEngine(o);
        let n = 0;
        const step = eng.step.bind(eng);
        eng.step = async (...a: Parameters<typeof eng.step>) => ({ ...(await step(...a)), ...(++n === 2 ? { skipped: true, lossScale: 32768 } : { lossScale: 65536 }) });
        return eng;
      },
    };
    const file = join(proj, 'skip.yaml');
    writeFileSync(file, recipe({ lr: '1.0e-2', warmup: 0, training: '  max_steps: 4\n', top: 'run_name: skip\n' }));
    const events: RunEvent[] = [];
    await runTraining({ configFile: file, deps, onEvent: (e) => events.push(e) });
    const s = steps(events);
    assert.deepEqual(s.map((e) => e.skipped === true), [false, true, false, false]);
    // linear over 4 steps without warmup: lr_k = 1e-2 · (1 − (k−1)/4) for scheduler step k; step 3 reuses step 2's.
    assert.deepEqual(s.map((e) => e.lr), [1e-2, 0.75e-2, 0.75e-2, 0.5e-2]);
  });

  it('resuming a finished run says so and takes no step', async () => {
    const first = await train('finished', recipe({ training: '  max_steps: 2\n', top: 'run_name: finished\n' }));
    const again = await train('finished', recipe({ training: '  max_steps: 2\n', top: 'run_name: finished\n' }), { resume: first.done.run_dir });
    assert.equal(steps(again.events).length, 0);
    assert.ok(again.events.some((e) => e.event === 'log' && /already complete at step 2 of 2/.test(e.message)));
    assert.equal(again.done.final_loss, first.done.final_loss);
  });

  it('warns about a target_modules entry that matches nothing while others match (PEFT trains silently)', async () => {
    const cfg = JSON.parse(readFileSync(join(proj, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(proj, 'typo_adapter.json'), JSON.stringify({ ...cfg, target_modules: ['q_proj', 'vv_proj'] }));
    const file = join(proj, 'typo.yaml');
    writeFileSync(file, recipe({ training: '  max_steps: 1\n', top: 'adapter_config: ./typo_adapter.json\nrun_name: typo\n' }));
    const events: RunEvent[] = [];
    await runTraining({ configFile: file, onEvent: (e) => events.push(e) });
    const warn = events.find((e) => e.event === 'log' && e.level === 'warning' && e.message.includes('"vv_proj" matches no module'));
    assert.ok(warn !== undefined, JSON.stringify(events.filter((e) => e.event === 'log')));
    const start = events[0]!;
    assert.ok(start.event === 'start' && start.modules !== undefined && start.modules.every((m) => m.name.endsWith('q_proj')));
  });

  it('refuses a run whose estimated peak exceeds the available memory, before a run folder exists', async () => {
    const file = join(proj, 'oom.yaml');
    writeFileSync(file, recipe({ training: '  max_steps: 2\n', top: 'run_name: oom\n' }));
    const deps = { ...defaultDeps, availableMemory: () => 64 * 2 ** 20 };
    await assert.rejects(runTraining({ configFile: file, deps, onEvent: () => undefined }), (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.match(e.message, /this run needs about [\d.]+ MiB but only 64.0 MiB of memory is available \(largest parts: onnxruntime session/);
      assert.match(e.message, /per_device_train_batch_size/);
      return true;
    });
    assert.equal(existsSync(join(proj, 'runs', 'oom')), false);
    // The same recipe with plenty of memory reports its estimate; with 10% to spare it warns and goes ahead.
    const probe: RunEvent[] = [];
    await runTraining({ configFile: file, onEvent: (e) => probe.push(e) });
    const start = probe[0]!;
    assert.ok(start.event === 'start' && start.memory_estimate_bytes !== undefined && start.memory_estimate_bytes > 64 * 2 ** 20);
    const estimate = start.memory_estimate_bytes;
    writeFileSync(file, recipe({ training: '  max_steps: 2\n', top: 'run_name: oom-tight\n' }));
    const events: RunEvent[] = [];
    await runTraining({ configFile: file, deps: { ...defaultDeps, availableMemory: () => estimate * 1.1 }, onEvent: (e) => events.push(e) });
    assert.ok(events.some((e) => e.event === 'log' && e.level === 'warning' && /this run needs about .*, 91% of the/.test(e.message)));
  });
});
