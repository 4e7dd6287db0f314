import { parseEffect } from '@nova/faults';
import type { Fault } from '@nova/proto';
import type { Check } from './hypotheses.ts';

/**
 * The evidence checks of an experiment, one per fault it recovered: "fault took effect" with what was
 * measured at the target (requests delayed, packets dropped, the process gone), and "fault reverted" for
 * a fault whose undo failed. A fault it injected (`injected`) that came back from no recovery has no
 * measurement (the agent holding it died and a new one knows nothing of it): its check fails as evidence,
 * so the experiment is inconclusive, never a pass resting on nothing. `nameOf` turns a target id into the
 * service's name.
 */
export function effectChecks(
  faults: readonly Fault[],
  nameOf: (targetId: string) => string,
  injected: ReadonlyArray<{ target: string; kind: string }> = [],
): Check[] {
  const checks: Check[] = [];
  const unmatched = [...faults];
  for (const i of injected) {
    const k = unmatched.findIndex((f) => f.targetId === i.target && f.kind === i.kind);
    if (k >= 0) {
      unmatched.splice(k, 1);
      continue;
    }
    checks.push({
      name: `fault took effect: ${i.kind} on ${nameOf(i.target)}`,
      ok: false,
      measured: 'no record of it at recovery: the agent that held it is gone (restarted during the fault?)',
      expected: 'an effect measured at the target',
      evidence: true,
    });
  }
  for (const f of faults) {
    const where = `${f.kind} on ${nameOf(f.targetId)}`;
    if (f.phase === 'failed') {
      checks.push({
        name: `fault reverted: ${where}`,
        ok: false,
        measured: f.error || 'recovery failed',
        expected: 'reverted',
      });
    }
    const effect = parseEffect(f.effectJson);
    checks.push({
      name: `fault took effect: ${where}`,
      ok: effect?.took ?? false,
      measured: effect?.summary ?? 'no effect reported by the agent',
      expected: 'an effect measured at the target',
      evidence: true,
    });
  }
  return checks;
}

/**
 * The verdict from the checks: `fail` when a hypothesis (or the workflow) failed; else `inconclusive` when a
 * fault showed no effect, since then the run proves nothing about it; else `pass`.
 */
export function verdictOf(checks: readonly Check[], workflowFailed = false): 'pass' | 'fail' | 'inconclusive' {
  if (workflowFailed || checks.some((c) => !c.ok && !c.evidence)) return 'fail';
  if (checks.some((c) => !c.ok)) return 'inconclusive';
  return 'pass';
}
