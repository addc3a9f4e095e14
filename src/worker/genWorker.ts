// The Playground's generation worker process (dist/genWorker.js): forked by the extension host, it runs one
// GenService (a stacked-LoRA Generator) and answers HostToGen messages with GenToHost messages over IPC.
import { GenService } from '../core/playground/genService';
import { isHostToGen, type GenToHost } from '../shared/playground';

const service = new GenService((m: GenToHost) => {
  if (process.send !== undefined && process.connected) process.send(m);
});

process.on('message', (m: unknown) => {
  if (isHostToGen(m)) void service.handle(m);
});

const quit = (): void => {
  void service.dispose().finally(() => process.exit(0));
};
process.on('disconnect', quit);
process.on('SIGTERM', quit);
