// The training worker process: forked by the run manager (or run by the CLI), trains one run and
// reports every RunEvent to its parent over IPC while writing the run folder.
process.on('message', () => {
  // Filled in with the trainer.
});
