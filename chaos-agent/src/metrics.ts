import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** The agent's Prometheus metrics. */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly faultsActive = new Gauge({
    name: 'chaos_agent_faults_active',
    help: 'Faults currently injected by this agent.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly applies = new Counter({
    name: 'chaos_agent_fault_applies_total',
    help: 'Faults applied, by kind and result.',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly recovers = new Counter({
    name: 'chaos_agent_fault_recovers_total',
    help: 'Faults recovered, by kind and reason.',
    labelNames: ['kind', 'reason'] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'chaos_agent_errors_total',
    help: 'Failed or refused API calls, by method and gRPC code.',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });
  readonly targets = new Gauge({
    name: 'chaos_agent_targets',
    help: 'Services registered with this agent.',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Serves `/metrics` on host:port; resolves with the bound port. */
  async serve(host: string, port: number): Promise<{ server: Server; port: number }> {
    const server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    });
    await new Promise<void>((r) => server.listen(port, host, r));
    const address = server.address();
    return { server, port: typeof address === 'object' && address ? address.port : port };
  }
}
