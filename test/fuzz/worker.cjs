// Worker-thread entry of the fuzzing pool: loads TypeScript through tsx, then runs cases posted by the pool.
require('tsx/cjs');
require('./fuzzWorker.ts');
