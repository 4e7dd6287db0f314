import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { userInfo } from 'node:os';
import { parseDuration, type Resource } from '@nova/chaos-spec';
import { TARGET_LABELS, type Target } from '@nova/proto';

/** The safety policy, enforced before anything is injected. */
export interface SafetyPolicy {
  /** Namespaces experiments may touch (`ALLOWED_NAMESPACES=a,b`); all when undefined. */
  allowedNamespaces?: string[];
  /** Every selected target must carry `chaos.mesh/safe: "true"` (`CHAOS_REQUIRE_SAFE_LABEL=true`). */
  requireSafeLabel: boolean;
  /** `production` (`CHAOS_PROFILE=production`): approvals, canary-only selectors, < 1 min, nothing concurrent. */
  profile: 'default' | 'production';
  /** Security mode (`CHAOS_SECURITY_MODE`, default on): every action needs a known actor. */
  securityMode: boolean;
  /** Who runs the experiments (`CHAOS_ACTOR`, else the OS user). */
  actor: string | undefined;
}

export function policyFromEnv(env: NodeJS.ProcessEnv = process.env): SafetyPolicy {
  let osUser: string | undefined;
  try {
    osUser = userInfo().username;
  } catch {
    osUser = undefined;
  }
  return {
    allowedNamespaces: env['ALLOWED_NAMESPACES']
      ? env['ALLOWED_NAMESPACES']
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : undefined,
    requireSafeLabel: env['CHAOS_REQUIRE_SAFE_LABEL'] === 'true',
    profile: env['CHAOS_PROFILE'] === 'production' ? 'production' : 'default',
    securityMode: env['CHAOS_SECURITY_MODE'] !== 'false',
    actor: env['CHAOS_ACTOR'] || osUser,
  };
}

type Obj = Record<string, unknown>;

/** Every selector block of a resource, with its path. */
function selectors(r: Resource): Array<{ path: string; spec: Obj; durationMs?: number }> {
  if (r.kind === 'Workflow') {
    return r.spec.templates.flatMap((t, i) => {
      const block = Object.keys(t).find((k) => k.endsWith('Chaos'));
      return block
        ? [
            {
              path: `spec.templates[${i}].${block}`,
              spec: t[block] as Obj,
              durationMs: t.deadline ? parseDuration(t.deadline) : undefined,
            },
          ]
        : [];
    });
  }
  if (r.kind === 'Schedule') {
    const block = Object.keys(r.spec).find((k) => k.endsWith('Chaos'));
    return block ? [{ path: `spec.${block}`, spec: r.spec[block] as Obj }] : [];
  }
  return [{ path: 'spec', spec: r.spec as Obj }];
}

/**
 * The policy's objections to running `resource` on the `selected` targets (empty when allowed). Each names
 * the rule, the YAML path, and what would satisfy it.
 */
export function checkPolicy(
  resource: Resource,
  selected: ReadonlyArray<Pick<Target, 'name' | 'namespace' | 'labels'>>,
  policy: SafetyPolicy,
): string[] {
  const out: string[] = [];
  const where = `${resource.source.file}:${resource.source.line} ${resource.kind} ${resource.metadata.name}`;
  if (policy.securityMode && !policy.actor)
    out.push(`${where}: security mode is on and no actor is known: set CHAOS_ACTOR`);
  if (policy.allowedNamespaces) {
    for (const s of selectors(resource)) {
      const ns = ((s.spec['selector'] as Obj | undefined)?.['namespaces'] as string[] | undefined) ?? [
        resource.metadata.namespace,
      ];
      const denied = ns.filter((n) => !policy.allowedNamespaces!.includes(n));
      if (denied.length)
        out.push(
          `${where}: ${s.path}.selector.namespaces has ${denied.join(', ')}, outside ALLOWED_NAMESPACES (${policy.allowedNamespaces.join(', ')})`,
        );
    }
    for (const t of selected)
      if (!policy.allowedNamespaces.includes(t.namespace))
        out.push(`${where}: target ${t.name} is in namespace ${t.namespace}, outside ALLOWED_NAMESPACES`);
  }
  if (policy.requireSafeLabel) {
    for (const t of selected)
      if (t.labels[TARGET_LABELS.safe] !== 'true')
        out.push(`${where}: target ${t.name} does not opt in: it lacks the label chaos.mesh/safe: "true"`);
  }
  if (policy.profile === 'production') {
    const a = resource.metadata.annotations;
    for (const required of ['nova.dev/approved-by', 'nova.dev/approval-ticket']) {
      if (!a[required]) out.push(`${where}: the production profile needs the annotation ${required}`);
    }
    for (const s of selectors(resource)) {
      const labels =
        ((s.spec['selector'] as Obj | undefined)?.['labelSelectors'] as Record<string, string> | undefined) ?? {};
      if (labels['track'] !== 'canary')
        out.push(`${where}: ${s.path}.selector must be canary-only in production: add labelSelectors track: canary`);
      const durationMs =
        s.durationMs ?? (typeof s.spec['duration'] === 'string' ? parseDuration(s.spec['duration']) : undefined);
      if (durationMs === undefined || durationMs >= 60_000)
        out.push(`${where}: ${s.path} must last less than 1 minute in production (duration or deadline < 1m)`);
    }
    if (resource.kind === 'Workflow' && resource.spec.templates.some((t) => t.templateType === 'Parallel')) {
      out.push(
        `${where}: the production profile runs no concurrent experiments: replace the Parallel templates with Serial ones`,
      );
    }
    if (resource.kind === 'Schedule' && (resource.spec.concurrencyPolicy ?? 'Forbid') !== 'Forbid') {
      out.push(`${where}: spec.concurrencyPolicy must be Forbid in production`);
    }
  }
  return out;
}

/** Appends mutating actions as JSON lines: who, what, when, result. */
export class ControllerAudit {
  constructor(
    private readonly file: string,
    private readonly actor: string,
  ) {
    mkdirSync(dirname(file), { recursive: true });
  }
  write(action: string, subject: string, result: 'ok' | 'denied' | 'failed', detail?: string): void {
    appendFileSync(
      this.file,
      `${JSON.stringify({ at: new Date().toISOString(), actor: this.actor, action, subject, result, ...(detail ? { detail } : {}) })}\n`,
    );
  }
}
