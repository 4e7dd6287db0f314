import type { LoadSource } from '../verdict/load.ts';
import type { ControllerAudit } from '../plan/policy.ts';
import type { Runner } from '../run/runner.ts';
import type { SessionOptions } from './sessions.ts';

/** Options of `startApi` (server.ts). */
export interface ApiOptions {
  runner: Runner;
  audit: ControllerAudit;
  token: string;
  /** Directories or files of named experiments (`{"name": ...}`). */
  suite: string[];
  host?: string;
  port?: number;
  /** Longest fault the API starts, in ms. Default 10 minutes. */
  maxDurationMs?: number;
  /** Dashboard users: `user:bcrypt-hash` lines (htpasswd -B). Password logins are refused when absent. */
  htpasswd?: string;
  /** Where `chaos run` writes its reports (history, and the HTML reports the dashboard links). */
  reportsDir?: string;
  /** Load running while `chaos up` is (the dashboard's live chart); none when absent. */
  live?: LoadSource;
  /** Dashboard session lifetimes. */
  sessions?: SessionOptions;
  /** Requests an address may make per minute without valid credentials (then 429). Default 300. */
  anonymousPerMinute?: number;
}
