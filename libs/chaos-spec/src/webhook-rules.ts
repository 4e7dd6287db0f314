import { parseSchedule } from './cron.ts';
import { parseDuration } from './duration.ts';
import { blockName, CHAOS_KINDS, UNMODELLED_KINDS, type ChaosKind, type UnmodelledKind } from './model.ts';
import { parseFloatStr, parseMemorySize, parsePercent, parseRate } from './units.ts';

/** A problem found at a path (before positions are attached). */
export interface RuleIssue {
  path: Array<string | number>;
  message: string;
  /** Valid for Chaos Mesh but not runnable here (see {@link UNMODELLED_KINDS}). */
  warning?: boolean;
}

const isUnmodelled = (kind: string): kind is UnmodelledKind => (UNMODELLED_KINDS as readonly string[]).includes(kind);

/** The warning for an embedded kind we do not model: the rest of the file is still validated. */
function unmodelled(kind: UnmodelledKind, path: Array<string | number>): RuleIssue {
  return {
    path,
    warning: true,
    message: `${kind} is not modelled by Nova Chaos: checked against Chaos Mesh's schema only, and \`chaos run\` cannot run it (it runs on a cluster with Chaos Mesh)`,
  };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function duration(
  issues: RuleIssue[],
  path: Array<string | number>,
  value: unknown,
  what = 'a Go duration such as 30s, 1m30s or 250ms',
): number | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined) issues.push({ path, message: `${JSON.stringify(value)} is not ${what}` });
  return ms;
}

function float(issues: RuleIssue[], path: Array<string | number>, value: unknown): void {
  if (value === undefined) return;
  const r = parseFloatStr(value);
  if (!r.ok) issues.push({ path, message: r.reason });
}

/** Selector and mode rules shared by every chaos kind (PodSelector). */
function selectorRules(spec: Obj, at: Array<string | number>, issues: RuleIssue[]): void {
  const mode = spec['mode'];
  const value = spec['value'];
  if (mode === 'fixed' || mode === 'fixed-percent' || mode === 'random-max-percent') {
    const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
    if (value === undefined)
      issues.push({
        path: [...at, 'value'],
        message: `is required with mode ${mode}: ${mode === 'fixed' ? 'the number of targets, e.g. "2"' : 'a percentage from "1" to "100"'}`,
      });
    else if (mode === 'fixed' && !(n > 0))
      issues.push({
        path: [...at, 'value'],
        message: `${JSON.stringify(value)} must be a positive integer in a string with mode fixed, e.g. "2"`,
      });
    else if (mode !== 'fixed' && !(n >= 1 && n <= 100))
      issues.push({
        path: [...at, 'value'],
        message: `${JSON.stringify(value)} must be an integer from "1" to "100" with mode ${mode}`,
      });
  }
  const selector = spec['selector'];
  if (isObj(selector)) {
    const meaningful = [
      'namespaces',
      'labelSelectors',
      'expressionSelectors',
      'pods',
      'annotationSelectors',
      'fieldSelectors',
      'nodes',
      'nodeSelectors',
    ].some((k) => {
      const v = selector[k];
      return Array.isArray(v) ? v.length > 0 : isObj(v) ? Object.keys(v).length > 0 : false;
    });
    if (!meaningful) {
      issues.push({
        path: [...at, 'selector'],
        message:
          'selects everything: give labelSelectors (e.g. app: auth-service), namespaces or pods, to bound the blast radius',
      });
    }
  }
}

const HTTP_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'CONNECT'];

/** The admission rules of Chaos Mesh's webhooks for one chaos spec (standalone, in a Workflow, or in a Schedule). */
export function chaosRules(
  kind: ChaosKind,
  spec: unknown,
  at: Array<string | number>,
  issues: RuleIssue[],
  context: 'standalone' | 'workflow' | 'schedule',
): void {
  if (!isObj(spec)) return; // the schema reports the shape
  selectorRules(spec, at, issues);
  if (context === 'workflow') {
    if (spec['duration'] !== undefined)
      issues.push({
        path: [...at, 'duration'],
        message: "is not allowed in a workflow's chaos template: use the template's deadline instead",
      });
  } else duration(issues, [...at, 'duration'], spec['duration']);

  KIND_RULES[kind](spec, at, issues);
}

/** NetworkChaos: delay, loss, duplicate, corrupt and bandwidth values; the action's block; direction and target. */
function networkRules(spec: Obj, at: Array<string | number>, issues: RuleIssue[]): void {
  const delay = spec['delay'];
  if (isObj(delay)) {
    duration(issues, [...at, 'delay', 'latency'], delay['latency']);
    duration(issues, [...at, 'delay', 'jitter'], delay['jitter']);
    float(issues, [...at, 'delay', 'correlation'], delay['correlation']);
  }
  for (const block of ['loss', 'duplicate', 'corrupt'] as const) {
    const b = spec[block];
    if (isObj(b)) {
      float(issues, [...at, block, block], b[block]);
      float(issues, [...at, block, 'correlation'], b['correlation']);
    }
  }
  const bw = spec['bandwidth'];
  if (isObj(bw) && typeof bw['rate'] === 'string') {
    const rate = parseRate(bw['rate']);
    if (!rate.ok) issues.push({ path: [...at, 'bandwidth', 'rate'], message: rate.reason });
  }
  const action = spec['action'];
  const needs: Record<string, string> = {
    delay: 'delay',
    loss: 'loss',
    duplicate: 'duplicate',
    corrupt: 'corrupt',
    bandwidth: 'bandwidth',
  };
  if (typeof action === 'string' && needs[action] && spec[needs[action]] === undefined) {
    issues.push({ path: [...at, needs[action]], message: `is required for action ${action}` });
  }
  const direction = spec['direction'] ?? 'to';
  if (action !== 'partition' && (direction === 'from' || direction === 'both')) {
    if (spec['externalTargets'] !== undefined)
      issues.push({ path: [...at, 'direction'], message: `${direction} cannot be used with externalTargets` });
    else if (spec['target'] === undefined)
      issues.push({ path: [...at, 'direction'], message: `${direction} needs a target (the other side)` });
  }
  if (action === 'partition' && spec['target'] === undefined && spec['externalTargets'] === undefined) {
    issues.push({
      path: [...at, 'target'],
      message: 'is required for a partition: the services cut off from the selected ones',
    });
  }
  if (isObj(spec['target'])) selectorRules(spec['target'], [...at, 'target'], issues);
}

/** PodChaos: container-kill names its containers. */
function podRules(spec: Obj, at: Array<string | number>, issues: RuleIssue[]): void {
  if (
    spec['action'] === 'container-kill' &&
    !(Array.isArray(spec['containerNames']) && spec['containerNames'].length > 0)
  ) {
    issues.push({ path: [...at, 'containerNames'], message: 'is required (non-empty) for container-kill' });
  }
}

/** StressChaos: cpu or memory stressors (or stress-ng's), a memory size Chaos Mesh can read. */
function stressRules(spec: Obj, at: Array<string | number>, issues: RuleIssue[]): void {
  const stressors = spec['stressors'];
  if (stressors === undefined && spec['stressngStressors'] === undefined) {
    issues.push({
      path: [...at, 'stressors'],
      message: 'is required (or stressngStressors): give cpu {workers, load} or memory {workers, size}',
    });
  } else if (isObj(stressors) && stressors['cpu'] === undefined && stressors['memory'] === undefined) {
    issues.push({ path: [...at, 'stressors'], message: 'needs cpu or memory' });
  }
  const mem = isObj(stressors) ? stressors['memory'] : undefined;
  if (isObj(mem) && typeof mem['size'] === 'string' && mem['size'] !== '') {
    const size = parseMemorySize(mem['size']);
    if (!size.ok) issues.push({ path: [...at, 'stressors', 'memory', 'size'], message: size.reason });
  }
}

/** IOChaos: a delay for latency, an errno for fault, a percent. */
function ioRules(spec: Obj, at: Array<string | number>, issues: RuleIssue[]): void {
  if (spec['action'] === 'latency') {
    if (spec['delay'] === undefined)
      issues.push({ path: [...at, 'delay'], message: 'is required for action latency, e.g. "100ms"' });
    duration(issues, [...at, 'delay'], spec['delay']);
  }
  if (spec['action'] === 'fault' && !(typeof spec['errno'] === 'number' && spec['errno'] > 0)) {
    issues.push({ path: [...at, 'errno'], message: 'must be a non-zero errno for action fault, e.g. 5 (EIO)' });
  }
  if (spec['percent'] !== undefined) {
    const percent = parsePercent(spec['percent']);
    if (!percent.ok) issues.push({ path: [...at, 'percent'], message: percent.reason });
  }
}

/** HTTPChaos: a port, a method, and at least one action. */
function httpRules(spec: Obj, at: Array<string | number>, issues: RuleIssue[]): void {
  if (spec['port'] === undefined)
    issues.push({ path: [...at, 'port'], message: 'is required: the port the service listens on (1–65535)' });
  else if (!(Number.isInteger(spec['port']) && (spec['port'] as number) >= 1 && (spec['port'] as number) <= 65535)) {
    issues.push({
      path: [...at, 'port'],
      message: `must be a port from 1 to 65535, got ${JSON.stringify(spec['port'])}`,
    });
  }
  duration(issues, [...at, 'delay'], spec['delay']);
  if (spec['target'] === 'Request' && typeof spec['method'] === 'string' && !HTTP_METHODS.includes(spec['method'])) {
    issues.push({
      path: [...at, 'method'],
      message: `${JSON.stringify(spec['method'])} is not an HTTP method (${HTTP_METHODS.join(', ')})`,
    });
  }
  if (
    spec['abort'] === undefined &&
    spec['delay'] === undefined &&
    spec['replace'] === undefined &&
    spec['patch'] === undefined
  ) {
    issues.push({ path: at, message: 'needs an action: abort, delay, replace or patch' });
  }
}

/** TimeChaos: a signed time offset. */
function timeRules(spec: Obj, at: Array<string | number>, issues: RuleIssue[]): void {
  duration(issues, [...at, 'timeOffset'], spec['timeOffset'], 'a signed Go duration such as -5m or 1h');
}

/** DNSChaos: patterns the chaos DNS server can apply (warnings only). */
function dnsRules(spec: Obj, at: Array<string | number>, issues: RuleIssue[]): void {
  // Chaos Mesh's webhook checks only the selector and duration (api/v1alpha1/dnschaos_webhook.go
  // Validate); a pattern with `*` before its end is refused later, by the chaos DNS server, so it is a
  // warning here: the file is valid for the API server but the fault will not apply.
  for (const [i, p] of (Array.isArray(spec['patterns']) ? (spec['patterns'] as unknown[]) : []).entries()) {
    if (typeof p === 'string' && p.slice(0, -1).includes('*')) {
      issues.push({
        path: [...at, 'patterns', i],
        warning: true,
        message: `${JSON.stringify(p)}: the wildcard * may only end a pattern (e.g. "chaos-mesh.*"); the fault would not apply`,
      });
    }
  }
}

/** The kind-specific rules of each Chaos Mesh kind's webhook. */
const KIND_RULES: Record<ChaosKind, (spec: Obj, at: Array<string | number>, issues: RuleIssue[]) => void> = {
  NetworkChaos: networkRules,
  PodChaos: podRules,
  StressChaos: stressRules,
  IOChaos: ioRules,
  HTTPChaos: httpRules,
  TimeChaos: timeRules,
  DNSChaos: dnsRules,
};

const CONTROL_TYPES = ['Serial', 'Parallel', 'Suspend', 'Task', 'Schedule', 'StatusCheck'];
const CHAOS_BLOCKS = [...CHAOS_KINDS, ...UNMODELLED_KINDS].map(blockName);

/** Workflow admission rules: entry, unique names, children, per-type fields, deadlines. */
export function workflowRules(spec: unknown, at: Array<string | number>, issues: RuleIssue[]): void {
  if (!isObj(spec) || !Array.isArray(spec['templates'])) return;
  const templates = spec['templates'] as unknown[];
  const names = templates
    .map((t) => (isObj(t) ? t['name'] : undefined))
    .filter((n): n is string => typeof n === 'string');
  if (typeof spec['entry'] === 'string' && !names.includes(spec['entry'])) {
    issues.push({
      path: [...at, 'entry'],
      message: `names no template: "${spec['entry']}" is not one of ${names.join(', ')}`,
    });
  }
  const seen = new Set<string>();
  templates.forEach((t, i) => {
    if (!isObj(t)) return;
    const here = [...at, 'templates', i];
    const name = t['name'];
    if (typeof name === 'string') {
      if (seen.has(name))
        issues.push({
          path: [...here, 'name'],
          message: `"${name}" is used by another template: names must be unique`,
        });
      seen.add(name);
      if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name))
        issues.push({
          path: [...here, 'name'],
          message: `"${name}" must be a DNS-1123 name: lower-case letters, digits, '-' and '.'`,
        });
    }
    duration(issues, [...here, 'deadline'], t['deadline']);
    const type = t['templateType'];
    const present = CHAOS_BLOCKS.filter((b) => t[b] !== undefined);
    if (typeof type !== 'string') return;
    if (type === 'Serial' || type === 'Parallel') {
      const children = t['children'];
      if (!Array.isArray(children) || children.length === 0)
        issues.push({
          path: [...here, 'children'],
          message: `is required for a ${type} template: the templates it runs`,
        });
      else
        children.forEach((c, j) => {
          if (!names.includes(String(c)))
            issues.push({ path: [...here, 'children', j], message: `"${String(c)}" names no template` });
        });
      for (const b of present) issues.push({ path: [...here, b], message: `is not allowed in a ${type} template` });
    } else if (type === 'Suspend') {
      if (t['deadline'] === undefined)
        issues.push({ path: [...here, 'deadline'], message: 'is required for a Suspend template: how long to wait' });
      for (const b of present) issues.push({ path: [...here, b], message: 'is not allowed in a Suspend template' });
    } else if ((CHAOS_KINDS as readonly string[]).includes(type)) {
      const block = blockName(type as ChaosKind);
      if (t[block] === undefined)
        issues.push({ path: [...here, block], message: `is required for templateType ${type}` });
      else chaosRules(type as ChaosKind, t[block], [...here, block], issues, 'workflow');
      for (const b of present.filter((b) => b !== block))
        issues.push({ path: [...here, b], message: `is not allowed in a ${type} template` });
      if (t['children'] !== undefined)
        issues.push({
          path: [...here, 'children'],
          message: `is not allowed in a ${type} template (use a Serial or Parallel template)`,
        });
      if (t['deadline'] === undefined)
        issues.push({
          path: [...here, 'deadline'],
          message: `is required: a chaos template without a deadline never finishes`,
        });
    } else if (isUnmodelled(type)) {
      const block = blockName(type);
      if (t[block] === undefined)
        issues.push({ path: [...here, block], message: `is required for templateType ${type}` });
      else issues.push(unmodelled(type, [...here, 'templateType']));
      for (const b of present.filter((b) => b !== block))
        issues.push({ path: [...here, b], message: `is not allowed in a ${type} template` });
    } else if (!CONTROL_TYPES.includes(type)) {
      issues.push({
        path: [...here, 'templateType'],
        message: `"${type}" is not a template type: use Serial, Parallel, Suspend, Task, Schedule, StatusCheck or a chaos kind (${CHAOS_KINDS.join(', ')})`,
      });
    }
  });
}

/** Schedule admission rules: a valid cron, and the embedded chaos (or workflow) valid too. */
export function scheduleRules(spec: unknown, at: Array<string | number>, issues: RuleIssue[]): void {
  if (!isObj(spec)) return;
  if (typeof spec['schedule'] === 'string') {
    try {
      parseSchedule(spec['schedule']);
    } catch (error) {
      issues.push({ path: [...at, 'schedule'], message: (error as Error).message });
    }
  }
  const type = spec['type'];
  if (typeof type !== 'string') return;
  if (type === 'Workflow') {
    if (spec['workflow'] === undefined)
      issues.push({ path: [...at, 'workflow'], message: 'is required for type Workflow' });
    else workflowRules(spec['workflow'], [...at, 'workflow'], issues);
  } else if ((CHAOS_KINDS as readonly string[]).includes(type)) {
    const block = blockName(type as ChaosKind);
    if (spec[block] === undefined) issues.push({ path: [...at, block], message: `is required for type ${type}` });
    else chaosRules(type as ChaosKind, spec[block], [...at, block], issues, 'schedule');
  } else if (isUnmodelled(type)) {
    const block = blockName(type);
    if (spec[block] === undefined) issues.push({ path: [...at, block], message: `is required for type ${type}` });
    else issues.push(unmodelled(type, [...at, 'type']));
  } else
    issues.push({
      path: [...at, 'type'],
      message: `"${type}" is not a schedulable type: use a chaos kind or Workflow`,
    });
}
