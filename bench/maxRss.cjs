// Preload of bench/memory.bench.ts (`node -r ./bench/maxRss.cjs ...`): at exit, writes the process's peak RSS in
// bytes (getrusage ru_maxrss) to the file named by PEFT_BENCH_MAXRSS_FILE.
'use strict';
process.on('exit', () => {
  const file = process.env.PEFT_BENCH_MAXRSS_FILE;
  if (file) require('node:fs').writeFileSync(file, String(process.resourceUsage().maxRSS * 1024));
});
