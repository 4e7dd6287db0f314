import type { Readable } from 'node:stream';

/**
 * Calls `onLine` for each complete line of `stream` (without its newline; empty lines skipped). A line split
 * across chunks is joined first, and a last line without a newline is delivered when the stream ends.
 */
export function eachLine(stream: Readable, onLine: (line: string) => void): void {
  let buffered = '';
  stream.on('data', (chunk: Buffer | string) => {
    buffered += chunk.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).replace(/\r$/, '');
      buffered = buffered.slice(nl + 1);
      if (line) onLine(line);
    }
  });
  stream.on('end', () => {
    if (buffered) onLine(buffered);
    buffered = '';
  });
}
