// Which pods an audit covers: label selectors as Kubernetes defines them, and
// the audit's own rules. Pure.
import { isLabelKey, isLabelValue } from '../../api/names.ts';

export interface LabelSelector {
  matchLabels?: Readonly<Record<string, string>>;
  matchExpressions?: readonly { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: readonly string[] }[];
}

type Labels = Readonly<Record<string, string>>;

function matchesExpression(expression: NonNullable<LabelSelector['matchExpressions']>[number], labels: Labels): boolean {
  const value = Object.hasOwn(labels, expression.key) ? labels[expression.key] : undefined;
  const has = value !== undefined;
  const listed = has && (expression.values ?? []).includes(value);
  switch (expression.operator) {
    case 'In':
      return listed;
    case 'NotIn':
      return !listed;
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
  }
}

/** An absent or empty selector selects everything, as in every Kubernetes API. */
export function matchesSelector(selector: LabelSelector | undefined, labels: Labels): boolean {
  if (selector === undefined) return true;
  const byLabel = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
  return byLabel && (selector.matchExpressions ?? []).every((e) => matchesExpression(e, labels));
}

/**
 * Parses "k=v,k2=v2" (the equality form of a label selector) into
 * matchLabels, each key and value checked as Kubernetes checks labels. At
 * least one label: an empty selector would take every pod for a match.
 */
export function parseEqualitySelector(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const match = /^([^=!]+)==?([^=]*)$/.exec(part);
    if (match?.[1] === undefined || match[2] === undefined) throw new Error(`"${part}" is not of the form key=value`);
    const [key, value] = [match[1].trim(), match[2].trim()];
    if (!isLabelKey(key)) throw new Error(`"${key}" is not a label key (an optional DNS prefix and /, then at most 63 letters, digits, -, _ or .)`);
    if (!isLabelValue(value))
      throw new Error(`"${value}" is not a label value (at most 63 letters, digits, -, _ or ., beginning and ending with a letter or digit)`);
    labels[key] = value;
  }
  if (Object.keys(labels).length === 0) throw new Error('at least one key=value: an empty selector takes every pod in the namespace');
  return labels;
}

/** matchLabels as a flag says them: k=v,k2=v2. */
export const formatEqualitySelector = (labels: Readonly<Record<string, string>>): string =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

export interface AuditScope {
  namespaceSelector?: LabelSelector;
  auditPodsWithoutRuntimeClass?: boolean;
  requiredRuntimeClasses?: readonly string[];
}

/**
 * Whether an audit covers a pod: its namespace is selected, and it names a
 * RuntimeClass unless the audit covers those without. An audit that
 * requires RuntimeClasses covers those without: they break its rule.
 */
export function auditCovers(scope: AuditScope, pod: { runtimeClassName?: string }, namespaceLabels: Labels | undefined): boolean {
  const coversBare = scope.auditPodsWithoutRuntimeClass === true || scope.requiredRuntimeClasses !== undefined;
  if (pod.runtimeClassName === undefined && !coversBare) return false;
  // A namespace we have not seen yet has no labels we know of: only a selector that needs none takes it.
  return matchesSelector(scope.namespaceSelector, namespaceLabels ?? {});
}
