/** The segment id `<dataDir>/postmaster.pid` records, or undefined when the file is gone or names none. */
export function sysvSegmentOf(dataDir: string): number | undefined;
/**
 * Removes segment `id` once no process is attached, waiting up to `timeoutMs` (default 5 000 ms) for the
 * last one to detach; resolves to what it found.
 */
export function removeSysvSegment(id: number, timeoutMs?: number): Promise<'removed' | 'gone' | 'attached'>;
