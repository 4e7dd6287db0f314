/**
 * The pid of the postmaster serving `dataDir` (from its `postmaster.pid`), only if that process runs with
 * `-D dataDir`; undefined when there is none, or the file names a process that is not it.
 */
export function postmasterOf(dataDir: string): number | undefined;
