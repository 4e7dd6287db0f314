/** Breaker states, with the values of the `circuit_breaker_state` gauge. */
export const CircuitState = { Closed: 0, Open: 1, HalfOpen: 2 } as const;
export type CircuitState = (typeof CircuitState)[keyof typeof CircuitState];
