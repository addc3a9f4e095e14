// The training worker process: forked by the run manager (or run by the CLI), trains one run and
// reports every RunEvent to its parent over IPC while writing the run folder.
import type { HostToWorker, RunEvent, WorkerToHost } from '../shared/protocol';
import { errorMessage, errorStack } from '../core/errors';
import { runTraining, TrainingFailed } from '../core/train/trainer';

const controller = new AbortController();
let started = false;

/** Sends one event; resolves once the IPC channel has taken it (so nothing is lost on exit). */
function send(record: RunEvent): Promise<void> {
  const msg: WorkerToHost = { type: 'event', record };
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) {
      process.stdout.write(JSON.stringify(record) + '\n');
      resolve();
      return;
    }
    process.send(msg, undefined, {}, () => resolve());
  });
}

async function train(m: Extract<HostToWorker, { type: 'train' }>): Promise<number> {
  let pending: Promise<void> = Promise.resolve();
  try {
    await runTraining({
      configFile: m.config,
      ...(m.resume !== undefined ? { resume: m.resume } : {}),
      ...(m.device !== undefined ? { device: m.device } : {}),
      signal: controller.signal,
      onEvent: (e) => {
        pending = send(e);
      },
    });
    await pending;
    return 0;
  } catch (e) {
    // runTraining has already sent its error event; anything else still gets one.
    if (!(e instanceof TrainingFailed)) await send({ event: 'error', message: errorMessage(e) });
    await pending;
    if (!(e instanceof TrainingFailed)) process.stderr.write(`${errorStack(e)}\n`);
    return 1;
  }
}

function isHostMessage(m: unknown): m is HostToWorker {
  const t = (m as { type?: unknown } | null)?.type;
  return t === 'train' || t === 'stop';
}

process.on('message', (m: unknown) => {
  if (!isHostMessage(m)) return;
  if (m.type === 'stop') {
    controller.abort();
    return;
  }
  if (started) return;
  started = true;
  void train(m).then((code) => process.exit(code));
});

// A terminated worker stops like a Stop command: it checkpoints and writes the adapter first.
process.on('SIGTERM', () => controller.abort());
process.on('disconnect', () => controller.abort());
