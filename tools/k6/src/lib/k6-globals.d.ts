// k6 provides a console to scripts; @types/k6 does not declare it.
declare const console: { log(...args: unknown[]): void; error(...args: unknown[]): void };
