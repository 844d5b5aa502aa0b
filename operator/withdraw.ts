// runtimeclass-audit's step that withdraws every proof the operator gave,
// when the product stops keeping them: the chart's hook after `helm
// uninstall`, and after an upgrade or rollback that turns probes off.
//   node operator/withdraw.ts [--kubeconfig FILE] --operator-namespace NS --operator-selector k=v,...
//
// A proof label is a promise kept by a running operator: it goes when the
// node's kubelet, runtime or handlers change. Left behind, it would keep
// placing a gated class's pods on nodes nobody watches any more, whatever
// their kubelet does next. So the labels go with the probes: gated pods then
// wait (Pending) until an operator proves a node again. The remediation
// label rcaudit.dev/handlers-dropped stays: it keeps sandboxed pods off a
// node, and lifting that is a person's call.
//
// Helm runs this once the release is deleted or upgraded. An operator pod
// that still probes (terminating, or not yet replaced) could label again,
// or have a patch in flight that lands after ours: this waits for every such
// pod to be gone first.
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import { boundedDuration, namespaceName, refusing } from '../cli/flags.ts';
import { connect } from '../kube/connection.ts';
import { KubeApiError } from '../kube/errors.ts';
import { KubeRest } from '../kube/rest.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { PROBE_OBJECT_LABELS, ProbeActions } from './acting/probe-actions.ts';
import { labelChanges, stillProbing } from './judging/probe-plan.ts';
import { formatEqualitySelector, parseEqualitySelector } from './judging/selection.ts';
import { SHADOW_PREFIX } from './views/probe-view.ts';

interface Flags {
  kubeconfig?: string;
  operatorNamespace: string;
  operatorSelector: Record<string, string>;
  operatorGone: number;
  apiTimeout: number;
}

interface Listed {
  metadata?: { name?: string; labels?: Record<string, string> };
  spec?: { containers?: { args?: string[] }[] };
  status?: { phase?: string };
}
interface List {
  items?: Listed[];
  metadata?: { continue?: string };
}

function parseFlags(argv: string[]): Flags {
  return new Command('rcaudit-withdraw')
    .description("Removes the operator's probe labels from every node and its probes' RuntimeClasses, once no operator pod probes.")
    .option('--kubeconfig <file>', 'kubeconfig file; default: in-cluster config, then $KUBECONFIG')
    .requiredOption('--operator-namespace <ns>', "the operator's namespace", namespaceName)
    .requiredOption('--operator-selector <k=v,...>', "the operator's pods' labels: their last writes are waited out", refusing(parseEqualitySelector))
    .option(
      '--operator-gone <duration>',
      'how long to wait for the operator pods that probe to be gone before going on',
      boundedDuration('operator-gone'),
      120_000,
    )
    .option('--api-timeout <duration>', 'deadline of each API request', boundedDuration('api-timeout'), 30_000)
    .showHelpAfterError()
    .parse(argv)
    .opts<Flags>();
}

/** Every item of a list, page by page (a cluster of thousands of nodes is not one answer). */
async function listAll(rest: KubeRest, path: string, what: string, labelSelector?: string): Promise<Listed[]> {
  const items: Listed[] = [];
  let next: string | undefined;
  do {
    const page = await rest.request<List>('GET', path, { what, query: { limit: 500, continue: next, labelSelector } });
    items.push(...(page.items ?? []));
    next = page.metadata?.continue || undefined;
  } while (next !== undefined);
  return items;
}

/** Waits until no operator pod that probes is left, or `operatorGone` passed (then says so and goes on). */
async function probingOperatorGone(rest: KubeRest, flags: Flags, log: Logger): Promise<void> {
  const until = Date.now() + flags.operatorGone;
  for (;;) {
    const pods = await listAll(
      rest,
      `/api/v1/namespaces/${flags.operatorNamespace}/pods`,
      'list operator Pods',
      formatEqualitySelector(flags.operatorSelector),
    );
    const left = stillProbing(
      pods.map((p) => ({ name: p.metadata?.name ?? '', phase: p.status?.phase, args: (p.spec?.containers ?? []).map((c) => c.args ?? []) })),
    );
    if (left.length === 0) return;
    if (Date.now() >= until) {
      // On uninstall their RBAC went with the release; on an upgrade they are being replaced. Go on rather than fail it.
      log.warn({ pods: left }, 'operator pods that probe still there; withdrawing anyway');
      return;
    }
    await sleep(1000);
  }
}

/** Removes the probe labels of every node that has any; returns how many nodes had some. */
async function withdrawLabels(rest: KubeRest, actions: ProbeActions, log: Logger): Promise<number> {
  let withdrawn = 0;
  for (const node of await listAll(rest, '/api/v1/nodes', 'list Nodes')) {
    const name = node.metadata?.name;
    const patch = labelChanges(node.metadata?.labels ?? {}, new Map());
    if (name === undefined || Object.keys(patch).length === 0) continue;
    try {
      await actions.patchLabels(name, patch);
    } catch (err) {
      // A node deleted since the list carries nothing any more.
      if (err instanceof KubeApiError && err.reason === 'NotFound') continue;
      throw err;
    }
    withdrawn += 1;
    log.info({ node: name, labels: Object.keys(patch) }, 'proof labels withdrawn');
  }
  return withdrawn;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv);
  const log = createLogger('withdraw');
  const rest = new KubeRest(await connect(flags.kubeconfig), { timeoutMs: flags.apiTimeout });
  const actions = new ProbeActions(rest);
  await probingOperatorGone(rest, flags, log);
  const nodes = await withdrawLabels(rest, actions, log);
  const shadows = (await listAll(rest, '/apis/node.k8s.io/v1/runtimeclasses', 'list RuntimeClasses', formatEqualitySelector(PROBE_OBJECT_LABELS)))
    .map((c) => c.metadata?.name ?? '')
    .filter((name) => name.startsWith(SHADOW_PREFIX));
  for (const name of shadows) await actions.deleteShadow(name);
  log.info({ nodes, runtimeClasses: shadows }, 'every proof withdrawn');
}

main().catch((err: unknown) => {
  process.stderr.write(`${JSON.stringify({ level: 'fatal', msg: 'withdrawing the proofs failed', error: String(err) })}\n`);
  process.exit(1);
});
