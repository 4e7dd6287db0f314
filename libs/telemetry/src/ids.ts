import { RandomIdGenerator } from '@opentelemetry/sdk-trace-node';

const random = new RandomIdGenerator();

/** A new trace id (32 hex digits), as the SDK makes one. */
export function newTraceId(): string {
  return random.generateTraceId();
}

/** A new span id (16 hex digits), as the SDK makes one. */
export function newSpanId(): string {
  return random.generateSpanId();
}
