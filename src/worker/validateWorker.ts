// The editor's validation worker process (dist/validateWorker.js): runs ValidationJobs away from the extension host
// with one JobRunner (model caches kept between jobs); the host kills it when a job runs past its time budget.
import { errorMessage } from '../core/errors';
import { JobRunner } from '../core/validate/job';
import { isHostToValidator, type ValidatorToHost } from '../core/validate/workerProtocol';

const runner = new JobRunner();
const cancelled = new Set<number>();
const send = (m: ValidatorToHost): void => {
  if (process.send !== undefined && process.connected) process.send(m);
};

process.on('message', (m: unknown) => {
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
// the editor went away: nothing left to answer
process.on('disconnect', () => process.exit(0));
