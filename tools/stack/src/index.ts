export * from './stack.ts';
export * from './managed-process.ts';
export { AGENT_STOP_GRACE_MS, startAgentProcess, stopAgentProcess, type AgentProcessOptions } from './agent-process.ts';
export * from './chaos-environment.ts';
export * from './supervised-agent.ts';
export * from './liveness.ts';
export * from './lifecycle.ts';
