import { CHAOS_KINDS, parseDuration, UNMODELLED_KINDS, type ChaosKind, type WorkflowTemplate } from '@nova/chaos-spec';
import { wait } from './wait.ts';

/** How a workflow node ended. */
export type NodeStatus = 'accomplished' | 'deadline-exceeded' | 'aborted' | 'failed';

/** The result tree of a run. */
export interface NodeResult {
  name: string;
  templateType: string;
  startedAt: number;
  finishedAt: number;
  status: NodeStatus;
  error?: string;
  children: NodeResult[];
}

/** What the engine needs from its host. */
export interface WorkflowHost {
  /** Runs a chaos template until `signal` aborts (its deadline, or the run's abort), then recovers it. */
  runChaos(
    template: WorkflowTemplate,
    kind: ChaosKind,
    spec: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<void>;
  now(): number;
  onNode?(event: {
    node: string;
    templateType: string;
    phase: 'started' | 'finished';
    status?: NodeStatus;
    at: number;
  }): void;
}

/** Template types the local engine runs. Task, StatusCheck and Schedule-in-workflow are refused up front. */
export const RUNNABLE = ['Serial', 'Parallel', 'Suspend', ...CHAOS_KINDS] as const;

/** Checks that every template reachable from the entry is runnable here; returns the problems. */
export function unsupportedTemplates(spec: { entry: string; templates: WorkflowTemplate[] }): string[] {
  const byName = new Map(spec.templates.map((t) => [t.name, t]));
  const problems: string[] = [];
  const visit = (name: string, seen: Set<string>): void => {
    const t = byName.get(name);
    if (!t || seen.has(name)) return;
    seen.add(name);
    if ((UNMODELLED_KINDS as readonly string[]).includes(t.templateType)) {
      problems.push(
        `template ${name}: ${t.templateType} is not modelled by Nova Chaos, so this workflow cannot run here: run it on a cluster with Chaos Mesh`,
      );
    } else if (!(RUNNABLE as readonly string[]).includes(t.templateType)) {
      problems.push(
        `template ${name}: ${t.templateType} templates are not supported by the local workflow engine (Serial, Parallel, Suspend and chaos templates are)`,
      );
    }
    for (const c of t.children ?? []) visit(c, seen);
  };
  visit(spec.entry, new Set());
  return problems;
}

/**
 * Runs a Workflow as Chaos Mesh defines it: from `entry`, Serial children one after another, Parallel ones
 * together, Suspend waits for its deadline, a chaos template holds its fault until its deadline. A node's
 * deadline bounds its children; a node past its deadline is `deadline-exceeded` and a Serial parent stops
 * there. Aborting `signal` stops every node (faults are recovered by the host).
 */
export async function runWorkflow(
  spec: { entry: string; templates: WorkflowTemplate[] },
  host: WorkflowHost,
  signal: AbortSignal,
): Promise<NodeResult> {
  const byName = new Map(spec.templates.map((t) => [t.name, t]));

  async function run(name: string, parent: AbortSignal): Promise<NodeResult> {
    const t = byName.get(name)!;
    const startedAt = host.now();
    host.onNode?.({ node: name, templateType: t.templateType, phase: 'started', at: startedAt });
    const own = new AbortController();
    let deadlineHit = false;
    const deadlineMs = t.deadline ? parseDuration(t.deadline) : undefined;
    const timer =
      deadlineMs !== undefined
        ? setTimeout(() => {
            deadlineHit = true;
            own.abort();
          }, deadlineMs)
        : undefined;
    const onParent = (): void => own.abort();
    parent.addEventListener('abort', onParent, { once: true });
    if (parent.aborted) own.abort();
    const children: NodeResult[] = [];
    let status: NodeStatus = 'accomplished';
    let error: string | undefined;
    try {
      if (t.templateType === 'Serial') {
        for (const c of t.children ?? []) {
          if (own.signal.aborted) break;
          const r = await run(c, own.signal);
          children.push(r);
          if (r.status === 'failed') {
            status = 'failed';
            break;
          }
        }
      } else if (t.templateType === 'Parallel') {
        children.push(...(await Promise.all((t.children ?? []).map((c) => run(c, own.signal)))));
        if (children.some((c) => c.status === 'failed')) status = 'failed';
      } else if (t.templateType === 'Suspend') {
        await wait(deadlineMs ?? 0, own.signal);
      } else {
        const kind = t.templateType as ChaosKind;
        const block = kind.charAt(0).toLowerCase() + kind.slice(1);
        await host.runChaos(t, kind, t[block] as Record<string, unknown>, own.signal);
      }
    } catch (e) {
      status = 'failed';
      error = (e as Error).message;
    } finally {
      clearTimeout(timer);
      parent.removeEventListener('abort', onParent);
    }
    if (status === 'accomplished' && own.signal.aborted) {
      // A chaos or Suspend node that ran to its deadline has done its job; a control node cut short has not.
      const ranToDeadline = deadlineHit && !['Serial', 'Parallel'].includes(t.templateType);
      status = ranToDeadline ? 'accomplished' : parent.aborted && !deadlineHit ? 'aborted' : 'deadline-exceeded';
      if (signal.aborted) status = 'aborted';
    }
    const finishedAt = host.now();
    host.onNode?.({ node: name, templateType: t.templateType, phase: 'finished', status, at: finishedAt });
    return { name, templateType: t.templateType, startedAt, finishedAt, status, ...(error ? { error } : {}), children };
  }

  return run(spec.entry, signal);
}
