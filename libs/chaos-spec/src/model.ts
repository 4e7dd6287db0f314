/** Chaos kinds the schemas know. */
export const CHAOS_KINDS = [
  'NetworkChaos',
  'PodChaos',
  'StressChaos',
  'IOChaos',
  'HTTPChaos',
  'TimeChaos',
  'DNSChaos',
] as const;
export type ChaosKind = (typeof CHAOS_KINDS)[number];
export const KINDS = [...CHAOS_KINDS, 'Workflow', 'Schedule'] as const;
export type Kind = (typeof KINDS)[number];

export const API_VERSION = 'chaos-mesh.org/v1alpha1';

/** Where something is in a file. */
export interface SourcePosition {
  file: string;
  line: number;
  column: number;
}

/** One validation finding: the file, the YAML path and line, and what would be valid. */
export interface SpecIssue extends SourcePosition {
  /** Dotted YAML path, e.g. `spec.templates[2].stressChaos.selector`. */
  path: string;
  message: string;
  /** `warning`: valid for Chaos Mesh, but something Nova Chaos cannot run (an error with `--strict`). Default error. */
  severity?: 'error' | 'warning';
}

/** Kubernetes object metadata (the fields we use). */
export interface Metadata {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** A selector block: which targets, and how many of them. */
export interface SelectorSpec {
  selector: {
    namespaces?: string[];
    labelSelectors?: Record<string, string>;
    expressionSelectors?: Array<{
      key: string;
      operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
      values?: string[];
    }>;
    pods?: Record<string, string[]>;
    annotationSelectors?: Record<string, string>;
  };
  mode: 'one' | 'all' | 'fixed' | 'fixed-percent' | 'random-max-percent';
  value?: string;
}

/** A validated chaos object (spec as in the YAML, validated). */
export interface ChaosResource {
  kind: ChaosKind;
  metadata: Metadata;
  spec: SelectorSpec & Record<string, unknown> & { duration?: string };
  source: SourcePosition;
}

export interface WorkflowTemplate {
  name: string;
  templateType: string;
  deadline?: string;
  children?: string[];
  [chaosBlock: string]: unknown;
}

export interface WorkflowResource {
  kind: 'Workflow';
  metadata: Metadata;
  spec: { entry: string; templates: WorkflowTemplate[] };
  source: SourcePosition;
}

export interface ScheduleResource {
  kind: 'Schedule';
  metadata: Metadata;
  spec: {
    schedule: string;
    type: ChaosKind | 'Workflow';
    concurrencyPolicy?: 'Forbid' | 'Allow';
    historyLimit?: number;
    startingDeadlineSeconds?: number | null;
    [block: string]: unknown;
  };
  source: SourcePosition;
}

export type Resource = ChaosResource | WorkflowResource | ScheduleResource;

/**
 * Chaos Mesh kinds that Nova Chaos does not model: a Workflow or Schedule may embed them (they are checked
 * against Chaos Mesh's schema and reported as a warning), but nothing here can run them.
 */
export const UNMODELLED_KINDS = [
  'JVMChaos',
  'PhysicalMachineChaos',
  'KernelChaos',
  'AWSChaos',
  'GCPChaos',
  'AzureChaos',
  'BlockChaos',
] as const;
export type UnmodelledKind = (typeof UNMODELLED_KINDS)[number];

/**
 * The field a kind is embedded under in a Workflow template or a Schedule, as Chaos Mesh's `EmbedChaos`
 * declares it (api/v1alpha1/workflow_types.go): not a mechanical lower-casing (`ioChaos`, `httpChaos`,
 * `physicalmachineChaos`).
 */
const EMBED_FIELDS: Record<ChaosKind | UnmodelledKind | 'Workflow', string> = {
  NetworkChaos: 'networkChaos',
  PodChaos: 'podChaos',
  StressChaos: 'stressChaos',
  IOChaos: 'ioChaos',
  HTTPChaos: 'httpChaos',
  TimeChaos: 'timeChaos',
  JVMChaos: 'jvmChaos',
  DNSChaos: 'dnsChaos',
  PhysicalMachineChaos: 'physicalmachineChaos',
  KernelChaos: 'kernelChaos',
  AWSChaos: 'awsChaos',
  GCPChaos: 'gcpChaos',
  AzureChaos: 'azureChaos',
  BlockChaos: 'blockChaos',
  Workflow: 'workflow',
};

/** The spec block a kind uses inside a Workflow template or a Schedule: `networkChaos`, `ioChaos`, … */
export function blockName(kind: ChaosKind | UnmodelledKind | 'Workflow'): string {
  return EMBED_FIELDS[kind];
}
