// What the audit's status says of its policy beyond verdicts: the handler
// coverage of its RuntimeClasses, and the conditions that name what is
// wrong with them (a required RuntimeClass that does not exist, a node that
// lacks a handler, a handler that is not the same runtime everywhere). Pure.
import type { RuntimeClassAuditSpec, RuntimeClassAuditStatus } from '../../api/v1alpha1/runtime-class-audit.ts';
import type { AuditCoverage, Coverage } from './coverage.ts';
import { HALTED_REASON, remediationOf, type Halt } from './remediation-plan.ts';

type Condition = NonNullable<RuntimeClassAuditStatus['conditions']>[number];
export type PolicyCondition = Omit<Condition, 'lastTransitionTime'>;
type CoverageEntry = NonNullable<RuntimeClassAuditStatus['runtimeClasses']>[number];

export function coverageEntry(c: Coverage): CoverageEntry {
  const entry: CoverageEntry = { name: c.name, handler: c.handler, nodes: c.nodes, covered: c.covered, uncovered: c.uncovered, unknown: c.unknown };
  if (c.uncoveredNodes.length > 0) entry.uncoveredNodes = c.uncoveredNodes;
  if (c.drift.length > 0) entry.drift = c.drift;
  return entry;
}

const names = (list: readonly string[], max = 5): string =>
  list.length <= max ? list.join(', ') : `${list.slice(0, max).join(', ')} and ${String(list.length - max)} more`;

/** PolicyResolved: every RuntimeClass the audit requires exists. */
export function policyResolvedCondition(required: readonly string[] | undefined, missing: readonly string[]): PolicyCondition {
  if (missing.length > 0) {
    return {
      type: 'PolicyResolved',
      status: 'False',
      reason: 'RuntimeClassNotFound',
      message: `requiredRuntimeClasses names RuntimeClasses that do not exist: ${names(missing)}; a pod cannot run with them`,
    };
  }
  return required === undefined
    ? { type: 'PolicyResolved', status: 'True', reason: 'NoRequiredRuntimeClasses', message: 'the audit requires no RuntimeClass' }
    : { type: 'PolicyResolved', status: 'True', reason: 'RuntimeClassesFound', message: `every required RuntimeClass exists: ${names(required)}` };
}

/** HandlersCovered: every node a RuntimeClass admits has its handler. Unknown nodes do not make it False (NodesNotReporting says those). */
export function handlersCoveredCondition(coverage: readonly Coverage[]): PolicyCondition {
  const uncovered = coverage.filter((c) => c.uncovered > 0);
  if (uncovered.length === 0)
    return { type: 'HandlersCovered', status: 'True', reason: 'AllCovered', message: 'every node a RuntimeClass admits has its handler' };
  const said = uncovered.map(
    (c) => `${c.name} (handler ${c.handler}): ${String(c.uncovered)} of ${String(c.nodes)} nodes lack it, e.g. ${names(c.uncoveredNodes, 3)}`,
  );
  return { type: 'HandlersCovered', status: 'False', reason: 'HandlerMissing', message: said.join('; ') };
}

/** HandlersConsistent: each RuntimeClass's handler is the same runtime on every node that has it. */
export function handlersConsistentCondition(coverage: readonly Coverage[]): PolicyCondition {
  const drifting = coverage.filter((c) => c.drift.length > 0);
  if (drifting.length === 0)
    return { type: 'HandlersConsistent', status: 'True', reason: 'NoDrift', message: 'each handler is the same runtime on every node' };
  const said = drifting.map((c) => `${c.name} (handler ${c.handler}) is ${c.drift.map((d) => `${d.runtime} on ${String(d.nodes)}`).join(', ')}`);
  return { type: 'HandlersConsistent', status: 'False', reason: 'HandlerDrift', message: said.join('; ') };
}

/**
 * Remediation: what the audit asks for, and whether the operator may do it
 * (it was started with --remediation, the chart value that grants the RBAC).
 */
export function remediationCondition(spec: RuntimeClassAuditSpec, permitted: boolean, halt?: Halt): PolicyCondition {
  const { evict, labelNodes } = remediationOf(spec);
  const asked = [
    evict.mode === 'Disabled' ? undefined : `evict: ${evict.mode}`,
    labelNodes.mode === 'Disabled' ? undefined : `labelNodes: ${labelNodes.mode}`,
  ].filter((a) => a !== undefined);
  if (asked.length === 0) return { type: 'Remediating', status: 'False', reason: 'NotAsked', message: 'spec.remediation asks for nothing' };
  if (!permitted) {
    return {
      type: 'Remediating',
      status: 'False',
      reason: 'NotPermitted',
      message: `spec.remediation asks for ${asked.join(', ')}, but the operator runs without --remediation (chart value remediation.enabled, which grants the RBAC): nothing is done`,
    };
  }
  // Halted by its circuit breaker (remediation-plan.ts breakerTrips): said until the spec changes.
  if (halt !== undefined && evict.mode === 'Enabled') return { type: 'Remediating', status: 'False', reason: HALTED_REASON, message: halt.message };
  return { type: 'Remediating', status: 'True', reason: 'Asked', message: asked.join(', ') };
}

/** The status fields and conditions the policy adds to an audit's status. */
export function policyStatus(
  spec: RuntimeClassAuditSpec,
  { coverage, missing }: AuditCoverage,
  remediationPermitted: boolean,
  halt?: Halt,
): { runtimeClasses: CoverageEntry[]; counts: { uncoveredRuntimeClasses: number; driftingRuntimeClasses: number }; conditions: PolicyCondition[] } {
  return {
    runtimeClasses: coverage.map(coverageEntry),
    counts: {
      uncoveredRuntimeClasses: coverage.filter((c) => c.uncovered > 0).length,
      driftingRuntimeClasses: coverage.filter((c) => c.drift.length > 0).length,
    },
    conditions: [
      policyResolvedCondition(spec.requiredRuntimeClasses, missing),
      handlersCoveredCondition(coverage),
      handlersConsistentCondition(coverage),
      remediationCondition(spec, remediationPermitted, halt),
    ],
  };
}
