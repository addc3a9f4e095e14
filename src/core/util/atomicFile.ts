// Writes a file by streaming byte chunks into a temp file beside it and renaming it into place, so a crash or an
// error mid-way never leaves a half-written file under the real name (the temp file is removed on error).
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Calls `fill` with a writer for the file's bytes; returns the number of bytes written. */
export function writeFileAtomicStreamed(file: string, fill: (write: (b: Uint8Array) => void) => void): number {
  const abs = path.resolve(file);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w');
  let total = 0;
  try {
    fill((b) => {
      for (let done = 0; done < b.length;) done += fs.writeSync(fd, b, done, b.length - done);
      total += b.length;
    });
    fs.closeSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.renameSync(tmp, abs);
  return total;
}
