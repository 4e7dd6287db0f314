import { appendFile } from 'node:fs/promises';

/** One mutating action: who did what, when, and how it ended. */
export interface AuditRecord {
  at: string;
  actor: string;
  action: string;
  target?: string;
  experimentUid?: string;
  kind?: string;
  result: 'ok' | 'denied' | 'failed';
  detail?: string;
}

/** Appends audit records as JSON lines (to a file, or nowhere). Writes are serialised and never throw. */
export class AuditLog {
  private chain: Promise<void> = Promise.resolve();
  readonly records: AuditRecord[] = [];
  constructor(private readonly file: string | undefined) {}

  write(record: Omit<AuditRecord, 'at'>): void {
    const full = { at: new Date().toISOString(), ...record };
    this.records.push(full);
    if (this.records.length > 1000) this.records.shift();
    if (!this.file) return;
    const file = this.file;
    this.chain = this.chain.then(() => appendFile(file, `${JSON.stringify(full)}\n`)).catch(() => undefined);
  }

  /** Resolves once every record so far is on disk. */
  flush(): Promise<void> {
    return this.chain;
  }
}
