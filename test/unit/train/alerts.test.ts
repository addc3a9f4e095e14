// The alert rules on scripted metric streams: each kind fires exactly at the step its definition says, once, and a
// normal noisy run (falling loss, jittery throughput with eval dips, steady memory) raises none. Plus recipe lines,
// and a real diverging `train --json` run: the alert record, its recipe line, and the one stderr warning.
import { strict as assert } from 'node:assert';
import { AlertMonitor, lossNoise, type Alert } from '../../../src/core/train/alerts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/cli/main';
import { AlertPrinter } from '../../../src/cli/commands/train';
import { makeProject, recipe } from './project';
import { recipeKeyLine, systemSample } from '../../../src/core/train/runMonitor';
import { Rng } from '../../../src/core/util/random';
import type { AlertEvent, RunEvent, StepEvent, SystemEvent } from '../../../src/shared/protocol';

const GiB = 2 ** 30;
const step = (k: number, loss: number, more: Partial<StepEvent> = {}): StepEvent => ({
  event: 'step', step: k, epoch: 0, loss, lr: 1e-3, grad_norm: 1, tokens: 100 * k, tokens_per_s: 1000, elapsed_s: k, ...more,
});
const system = (k: number, rss: number, available: number): SystemEvent => ({
  event: 'system', step: k, elapsed_s: k, cpu_percent: 180, cpu_percent_total: 90, cores: 2, rss_bytes: rss, peak_rss_bytes: rss, mem_available_bytes: available, mem_total_bytes: 16 * GiB,
});
const fired = (m: AlertMonitor, events: (StepEvent | SystemEvent)[]): Alert[] => events.flatMap((e) => m.observe(e));

describe('training alerts', () => {
  it('a normal noisy run raises none: falling loss with 10 % noise, throughput jitter and an eval dip every 25 steps', () => {
    const rng = new Rng(11);
    const events: (StepEvent | SystemEvent)[] = [];
    for (let k = 1; k <= 600; k++) {
      const loss = (1 + 2 * Math.exp(-k / 80)) * (1 + 0.1 * rng.normal());
      const rate = k === 1 ? 50 : k % 25 === 1 ? 350 : 1000 * (1 + 0.15 * rng.normal());
      events.push(step(k, loss, { tokens_per_s: rate, grad_norm: 0.5 + rng.uniform() }));
      if (k % 10 === 0) events.push(system(k, 3 * GiB + k * 2 ** 20, 6 * GiB));
    }
    assert.deepEqual(fired(new AlertMonitor(), events), []);
    // a flat, very noisy plateau (30 % noise) is not divergence either
    const flat = Array.from({ length: 400 }, (_, i) => step(i + 1, 2 * (1 + 0.3 * rng.normal())));
    assert.deepEqual(fired(new AlertMonitor(), flat), []);
  });

  it('divergence: loss 2.0 for 20 steps, then 3.0 — the EMA (β 0.9) passes +20 % at step 25 and has stayed there 5 steps at 29', () => {
    const events = Array.from({ length: 60 }, (_, i) => step(i + 1, i < 20 ? 2 : 3, { lr: 0.5 }));
    const alerts = fired(new AlertMonitor(), events);
    assert.equal(alerts.length, 1, JSON.stringify(alerts));
    assert.deepEqual([alerts[0]!.kind, alerts[0]!.step, alerts[0]!.key], ['divergence', 29, 'training.learning_rate']);
    assert.match(alerts[0]!.message, /the loss is rising: its moving average is 2\.6\d at step 29, \d\d % above its minimum 2\.00 for 5 logged steps; the learning rate \(0\.5\)/);
    // a rise of 15 % never fires; a rise to 0.13 from 0.03 (a memorising run) is under the 0.1-nat floor
    assert.deepEqual(fired(new AlertMonitor(), Array.from({ length: 60 }, (_, i) => step(i + 1, i < 20 ? 2 : 2.3))), []);
    assert.deepEqual(fired(new AlertMonitor(), Array.from({ length: 60 }, (_, i) => step(i + 1, i < 20 ? 0.03 : 0.12))), []);
    // it re-arms: back down to 1 (the new minimum), then up to 3 → over +20 % from step 122, the second alert at 126
    const twice = [...events, ...Array.from({ length: 60 }, (_, i) => step(61 + i, 1)), ...Array.from({ length: 30 }, (_, i) => step(121 + i, 3))];
    assert.deepEqual(fired(new AlertMonitor(), twice).map((a) => a.step), [29, 126]);
    // a noisy run (30 % per-step noise) that really diverges (2 → 4) still fires
    const rng = new Rng(5);
    const noisy = Array.from({ length: 200 }, (_, i) => step(i + 1, (i < 100 ? 2 : 4) * (1 + 0.3 * rng.normal())));
    const n = fired(new AlertMonitor(), noisy);
    assert.deepEqual(n.map((a) => a.kind), ['divergence']);
    assert.ok(n[0]!.step > 100 && n[0]!.step < 125, String(n[0]!.step));
  });

  it('the noise estimate: σ of white noise, unmoved by a jump or a trend', () => {
    const rng = new Rng(3);
    const white = Array.from({ length: 2000 }, () => 2 + 0.5 * rng.normal());
    assert.ok(Math.abs(lossNoise(white) - 0.5) < 0.03, String(lossNoise(white)));
    assert.equal(lossNoise([2, 2, 2, 2, 9, 9, 9, 9]), 0);
    assert.ok(Math.abs(lossNoise(Array.from({ length: 50 }, (_, i) => 3 - 0.01 * i)) - 0.01 / (0.6745 * Math.SQRT2)) < 1e-9);
  });

  it('NaN / Inf: fires at the first non-finite loss or gradient norm; points at max_grad_norm when clipping is off', () => {
    const m = new AlertMonitor({ maxGradNorm: 1 });
    assert.deepEqual(m.observeStep({ step: 1, loss: 2, grad_norm: 1 }), []);
    const a = m.observeStep({ step: 2, loss: Number.NaN, grad_norm: 1, lr: 1e6 });
    assert.deepEqual(a.map((x) => [x.kind, x.step, x.key]), [['non-finite', 2, 'training.learning_rate']]);
    assert.match(a[0]!.message, /^the loss is NaN at step 2 \(lr 1000000\): the learning rate is most likely too high$/);
    const off = new AlertMonitor({ maxGradNorm: 0 }).observeStep({ step: 5, loss: 3, grad_norm: Number.POSITIVE_INFINITY });
    assert.deepEqual(off.map((x) => [x.kind, x.step, x.key]), [['non-finite', 5, 'training.max_grad_norm']]);
    assert.match(off[0]!.message, /^the gradient norm is Infinity at step 5: gradient clipping is off/);
    // an fp16 step the loss scaler skipped has grad_norm null by design: no alert; a null without skipped is one
    assert.deepEqual(new AlertMonitor().observeStep({ step: 3, loss: 2, grad_norm: null, skipped: true }), []);
    assert.equal(new AlertMonitor().observeStep({ step: 3, loss: 2, grad_norm: null }).length, 1);
  });

  it('throughput: 1000 tok/s for 10 steps, then 400 — fires on the third slow step (13), not on single dips', () => {
    const events = Array.from({ length: 30 }, (_, i) => step(i + 1, 2, { tokens_per_s: i === 0 ? 10 : i < 10 ? 1000 : 400 }));
    const alerts = fired(new AlertMonitor(), events);
    assert.deepEqual(alerts.map((a) => [a.kind, a.step, a.key]), [['throughput', 13, 'training.per_device_train_batch_size']]);
    assert.match(alerts[0]!.message, /throughput fell to 400 tokens\/s at step 13, under half its running median 1000 tokens\/s for 3 logged steps/);
    // two slow steps in a row, then normal, repeatedly: never three in a row
    const dips = Array.from({ length: 60 }, (_, i) => step(i + 1, 2, { tokens_per_s: i % 5 < 2 && i > 10 ? 300 : 1000 }));
    assert.deepEqual(fired(new AlertMonitor(), dips), []);
    // 45 % below the median is not "half"
    assert.deepEqual(fired(new AlertMonitor(), Array.from({ length: 30 }, (_, i) => step(i + 1, 2, { tokens_per_s: i < 10 ? 1000 : 550 }))), []);
  });

  it('memory: RSS above 90 % of RSS + available fires once, and again only after it cleared', () => {
    const m = new AlertMonitor();
    const seq = [system(1, 4 * GiB, 4 * GiB), system(2, 9 * GiB, 1.1 * GiB), system(3, 9.2 * GiB, 0.9 * GiB), system(4, 9.5 * GiB, 0.5 * GiB), system(5, 5 * GiB, 5 * GiB), system(6, 9.5 * GiB, 0.5 * GiB)];
    const alerts = fired(m, seq);
    // 9 / 10.1 = 89 % (no), 9.2 / 10.1 = 91 % (yes), step 4 still high (no repeat), step 5 clears, step 6 again
    assert.deepEqual(alerts.map((a) => [a.kind, a.step, a.key]), [['memory', 3, 'training.per_device_train_batch_size'], ['memory', 6, 'training.per_device_train_batch_size']]);
    assert.match(alerts[0]!.message, /the worker holds 9421 MiB and only 922 MiB more is available \(over 90 %\)/);
  });

  it('a system sample on a GPU device lists the GPU figures as not reported (onnxruntime-node exposes none)', () => {
    const e = systemSample(3, 1.5, 150, 'webgpu');
    assert.deepEqual([e.step, e.elapsed_s, e.cpu_percent, e.cores], [3, 1.5, 150, availableParallelism()]);
    assert.equal(e.cpu_percent_total, Number((150 / availableParallelism()).toFixed(1)));
    assert.deepEqual({ ...e.gpu, note: undefined }, { device: 'webgpu', memory_used_bytes: null, memory_total_bytes: null, utilization_percent: null, note: undefined });
    assert.match(e.gpu?.note ?? '', /webgpu provider reports no memory or utilisation/);
    assert.equal(systemSample(1, 1, 100, 'cpu').gpu, undefined);
  });

  it('names the line of the key in peft-train.yaml, else of its section, else line 1', () => {
    const text = 'base_model: ./m\ndataset:\n  train: t.jsonl\ntraining:\n  per_device_train_batch_size: 2\n  learning_rate: 1.0e+6 # too high\n';
    assert.equal(recipeKeyLine(text, 'training.learning_rate'), 6);
    assert.equal(recipeKeyLine(text, 'training.per_device_train_batch_size'), 5);
    assert.equal(recipeKeyLine(text, 'training.max_grad_norm'), 4); // not written: the training: line
    assert.equal(recipeKeyLine('base_model: ./m\n', 'training.max_grad_norm'), 1);
  });
});

describe('alerts on the command line (tiny Llama fixture)', function () {
  this.timeout(120000);
  let root: string;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'peft-alerts-cli-'));
    await makeProject(root);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('train --json: the alert record on stdout (= metrics.jsonl) and one warning on stderr naming file, line and key', async () => {
    const file = join(root, 'nan.yaml');
    writeFileSync(file, recipe({ lr: '1.0e+38', warmup: 0, training: '  max_steps: 4\n  max_grad_norm: 0\n', top: 'run_name: nan\n' }));
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['train', file, '--json'], { out: (t) => out.push(t), err: (t) => err.push(t), isTTY: false });
    assert.equal(code, 1);
    const records = out.map((l) => JSON.parse(l) as RunEvent);
    // (throughput and memory alerts watch the machine, so a busy CI host may add one: only the loss alerts are compared)
    const lossAlert = (e: RunEvent): e is AlertEvent => e.event === 'alert' && e.kind !== 'throughput' && e.kind !== 'memory';
    const alerts = records.filter(lossAlert);
    const line = readFileSync(file, 'utf8').split('\n').indexOf('  max_grad_norm: 0') + 1;
    assert.ok(line > 1);
    assert.deepEqual(alerts.map((a) => [a.kind, a.step, a.key, a.file, a.line]), [['non-finite', 2, 'training.max_grad_norm', file, line]]);
    const warnings = err.filter((l) => l.includes('warning: the'));
    assert.equal(warnings.length, 1, err.join('\n'));
    assert.match(warnings[0]!, new RegExp(`^peft-studio train: warning: the (loss|gradient norm) is (NaN|-?Infinity) at step 2 .* \\(${file.replace(/[/.]/g, '\\$&')}:${line}: training\\.max_grad_norm\\)$`));
    // records of the run folder: the same alert, and a system record after step 1
    const metrics = readFileSync(join(root, 'runs', 'nan', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RunEvent);
    assert.deepEqual(metrics.filter(lossAlert), alerts);
    assert.deepEqual(metrics.filter((e) => e.event === 'system').map((e) => e.step), [1]);
  });

  it('prints each kind once', () => {
    const err: string[] = [];
    const p = new AlertPrinter({ out: () => undefined, err: (t) => err.push(t), isTTY: false });
    const a: AlertEvent = { event: 'alert', kind: 'divergence', step: 30, message: 'the loss is rising', key: 'training.learning_rate', file: '/p/peft-train.yaml', line: 9 };
    for (const e of [a, { ...a, step: 80 }, { ...a, kind: 'memory', key: 'training.per_device_train_batch_size', line: undefined, message: 'memory' } as AlertEvent]) p.event(e);
    assert.deepEqual(err, ['warning: the loss is rising (/p/peft-train.yaml:9: training.learning_rate)', 'warning: memory (/p/peft-train.yaml: training.per_device_train_batch_size)']);
  });
});
