// The editor's validation worker thread (dist/validateWorker.js): runs ValidationJobs off the extension host's thread
// with one JobRunner (model caches kept between jobs); the host terminates it when a job runs past its time budget.
import { parentPort } from 'node:worker_threads';
import { errorMessage } from '../core/errors';
import { JobRunner } from '../core/validate/job';
import { isHostToValidator, type ValidatorToHost } from '../core/validate/workerProtocol';

const port = parentPort;
if (port === null) throw new Error('validateWorker.js runs as a worker thread');
const runner = new JobRunner();
const cancelled = new Set<number>();
const send = (m: ValidatorToHost): void => port.postMessage(m);

port.on('message', (m: unknown) => {
  if (!isHostToValidator(m)) return;
  if (m.type === 'invalidate') runner.invalidate(m.file);
  else if (m.type === 'cancel') cancelled.add(m.id);
  else {
    const { id, job } = m;
    runner.run(job, (problems) => send({ type: 'partial', id, problems }), () => cancelled.has(id)).then(
      (problems) => send({ type: 'done', id, problems }),
      (e: unknown) => send({ type: 'failed', id, message: errorMessage(e) }),
    ).finally(() => cancelled.delete(id));
  }
});
