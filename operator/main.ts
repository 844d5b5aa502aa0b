// runtimeclass-audit operator (a Deployment; with more than one replica,
// leader-elected). Flags are parsed here and nowhere else.
//   node operator/main.ts [--kubeconfig FILE] [--agent-namespace NS] ...
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { boundedCount, boundedDuration, formatDuration, namespaceName, objectName, refusing, withListenFlags, type ListenFlags } from '../cli/flags.ts';
import { serveMetrics } from '../cli/serve.ts';
import { connect } from '../kube/connection.ts';
import { KubeRest } from '../kube/rest.ts';
import { createLogger } from '../observability/logger.ts';
import { ensureAuditUntilDone } from './acting/default-audit.ts';
import { DEFAULT_MAX_EVICTIONS_PER_MINUTE, Manager } from './reconcilers/manager.ts';
import { brokenTimingRule, CLIENT_GO_TIMINGS, LeaderElector } from './machinery/leader-election.ts';
import { OperatorMetrics } from './metrics/metrics.ts';
import { parseEqualitySelector } from './judging/selection.ts';

interface Flags extends ListenFlags {
  kubeconfig?: string;
  namespace: string;
  leaderElect: boolean;
  leaseName: string;
  identity: string;
  leaseDuration: number;
  renewDeadline: number;
  retryPeriod: number;
  agentNamespace?: string;
  agentSelector: Record<string, string>;
  workers: number;
  remediation: boolean;
  maxEvictionsPerMinute: number;
  apiTimeout: number;
  resync: number;
  watchSilence: number;
  eventSeriesInterval: number;
  ensureAudit?: string;
  probeNamespace?: string;
  probeImage: string;
  probeMaxInFlight: number;
  probePerMinute: number;
}

/** An image reference, as a probe pod names it: one word. */
function imageReference(value: string): string {
  if (!/^[^\s]{1,512}$/.test(value)) throw new InvalidArgumentError('an image reference without spaces, such as registry.k8s.io/pause:3.10');
  return value;
}

/** A Lease holder's identity: one word, so that no replica can pass for another or for nobody. */
function identity(value: string): string {
  if (!/^\S{1,128}$/.test(value)) throw new InvalidArgumentError('an identity without spaces, at most 128 characters');
  return value;
}

/** client-go's checks of the election's timings, said in the flags' words. */
function timingsProblem(flags: Flags): string | undefined {
  if (!flags.leaderElect) return undefined;
  const [lease, deadline, retry] = [flags.leaseDuration, flags.renewDeadline, flags.retryPeriod].map(formatDuration);
  switch (brokenTimingRule({ leaseDurationMs: flags.leaseDuration, renewDeadlineMs: flags.renewDeadline, retryPeriodMs: flags.retryPeriod })) {
    case 'lease-within-deadline':
      return `--lease-duration (${lease}) must be longer than --renew-deadline (${deadline}): a leader that stops renewing would still write after another took the lease`;
    case 'deadline-within-retry':
      return `--renew-deadline (${deadline}) must be longer than 1.2 × --retry-period (${retry}): a leader would give up before its first retry`;
    case undefined:
      return undefined;
  }
}

function parseFlags(argv: string[]): Flags {
  // client-go's identity: the pod's name plus a random suffix, so a restarted pod is a new candidate.
  const ownIdentity = `${process.env['POD_NAME'] ?? hostname()}_${randomBytes(4).toString('hex')}`;
  const program = new Command('rcaudit-operator')
    .description("Compares the handler every pod's sandbox really got with what its RuntimeClass asks for, and flags the pods that differ.")
    .option('--kubeconfig <file>', 'kubeconfig file; default: in-cluster config, then $KUBECONFIG')
    .option('--namespace <ns>', 'namespace of the leader Lease', namespaceName, process.env['POD_NAMESPACE'] ?? 'runtimeclass-audit')
    .option('--no-leader-elect', 'run without leader election (only ever one replica!)')
    .option('--lease-name <name>', 'name of the leader Lease', objectName, 'runtimeclass-audit-operator')
    .option('--identity <id>', "this replica's identity in the Lease", identity, ownIdentity)
    .option('--lease-duration <duration>', 'how long a silent leader keeps the lease', boundedDuration('lease-duration'), CLIENT_GO_TIMINGS.leaseDurationMs)
    .option(
      '--renew-deadline <duration>',
      'how long the leader tries to renew before it stops writing',
      boundedDuration('renew-deadline'),
      CLIENT_GO_TIMINGS.renewDeadlineMs,
    )
    .option('--retry-period <duration>', 'how often the lease is tried or renewed', boundedDuration('retry-period'), CLIENT_GO_TIMINGS.retryPeriodMs)
    .option(
      '--agent-namespace <ns>',
      'namespace of the agent pods, whose readiness says whether a report is current; unset: reports are taken as current',
      namespaceName,
      process.env['AGENT_NAMESPACE'],
    )
    .option('--agent-selector <k=v,...>', 'labels of the agent pods', refusing(parseEqualitySelector), {
      'app.kubernetes.io/name': 'runtimeclass-audit',
      'app.kubernetes.io/component': 'agent',
    })
    .option('--workers <n>', 'reconciles run at once (1-64)', boundedCount('workers'), 4)
    .option('--api-timeout <duration>', 'deadline of each API request (watches excepted)', boundedDuration('api-timeout'), 30_000)
    .option('--resync <duration>', 'every node and audit is reconciled again this often', boundedDuration('operator-resync'), 600_000)
    .option(
      '--watch-silence <duration>',
      'a watch that delivers nothing (not even a bookmark) this long is restarted',
      boundedDuration('watch-silence'),
      90_000,
    )
    .option(
      '--event-series-interval <duration>',
      "a lasting mismatch writes its event again at most this often (keep it under the API server's --event-ttl, 1h by default, or the event expires in between)",
      boundedDuration('event-series-interval'),
      1_800_000,
    )
    .option('--remediation', "act on the audits' spec.remediation: evict pods, label nodes (needs the RBAC the chart's remediation.enabled grants)", false)
    .option(
      '--max-evictions-per-minute <n>',
      'real evictions a minute over the cluster, all audits together, whatever each asks (1-60)',
      boundedCount('max-evictions-per-minute'),
      DEFAULT_MAX_EVICTIONS_PER_MINUTE,
    )
    .option(
      '--probe-namespace <ns>',
      "prove the audits' spec.probes RuntimeClasses on each node with probe pods in this namespace, and label the nodes (needs the RBAC the chart's probes.enabled grants)",
      namespaceName,
    )
    .option(
      '--probe-image <ref>',
      'the image of probe pods: only their sandbox matters (the pause image nodes already hold)',
      imageReference,
      'registry.k8s.io/pause:3.10',
    )
    .option('--probe-max-in-flight <n>', 'probe pods in flight over the cluster at once (1-1000)', boundedCount('probe-max-in-flight'), 10)
    .option('--probe-per-minute <n>', 'probe pods started in any minute over the cluster (1-600)', boundedCount('probe-per-minute'), 30)
    .option('--ensure-audit <name>', 'create this RuntimeClassAudit (empty spec: every pod) when it does not exist; never changed after', objectName)
    .showHelpAfterError();
  withListenFlags(program).parse(argv);
  const flags = program.opts<Flags>();
  const problem = timingsProblem(flags);
  if (problem !== undefined) program.error(`error: ${problem}`);
  return flags;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv);
  const log = createLogger('operator');
  const metrics = new OperatorMetrics();
  const rest = new KubeRest(await connect(flags.kubeconfig), { timeoutMs: flags.apiTimeout, observe: metrics.observeRequest.bind(metrics) });
  const elector = flags.leaderElect
    ? new LeaderElector(
        rest,
        {
          namespace: flags.namespace,
          name: flags.leaseName,
          identity: flags.identity,
          leaseDurationMs: flags.leaseDuration,
          renewDeadlineMs: flags.renewDeadline,
          retryPeriodMs: flags.retryPeriod,
        },
        log,
      )
    : undefined;
  const isLeader = (): boolean => elector?.isLeader() ?? true;
  const manager = new Manager(
    {
      instance: flags.identity,
      workers: flags.workers,
      resyncMs: flags.resync,
      watchSilenceMs: flags.watchSilence,
      eventSeriesIntervalMs: flags.eventSeriesInterval,
      remediation: flags.remediation,
      maxEvictionsPerMinute: flags.maxEvictionsPerMinute,
      ...(flags.agentNamespace === undefined ? {} : { agents: { namespace: flags.agentNamespace, matchLabels: flags.agentSelector } }),
      ...(flags.probeNamespace === undefined
        ? {}
        : { probes: { namespace: flags.probeNamespace, image: flags.probeImage, maxInFlight: flags.probeMaxInFlight, perMinute: flags.probePerMinute } }),
    },
    { rest, log, metrics, isLeader },
  );
  const server = await serveMetrics(flags, { registry: metrics.registry, probes: { live: () => true, ready: () => manager.synced }, rest, log });
  log.info(
    {
      identity: flags.identity,
      leaderElection: flags.leaderElect,
      agentNamespace: flags.agentNamespace ?? null,
      remediation: flags.remediation,
      maxEvictionsPerMinute: flags.remediation ? flags.maxEvictionsPerMinute : null,
      probeNamespace: flags.probeNamespace ?? null,
      address: server.address(),
    },
    'operator starting',
  );

  let exiting = false;
  // Resolves when the elector has stopped (and, on SIGTERM, released the lease).
  let election: Promise<unknown> = Promise.resolve();
  const exit = (code: number): void => {
    if (exiting) return;
    exiting = true;
    elector?.stop();
    void Promise.allSettled([manager.stop(), election]).finally(() => {
      server.close();
      process.exit(code);
    });
  };
  process.once('SIGTERM', () => {
    log.info({ signal: 'SIGTERM' }, 'shutting down');
    exit(0);
  });
  process.once('SIGINT', () => {
    exit(0);
  });

  await manager.start();
  const lead = (): void => {
    metrics.leader.set(1);
    manager.runWorkers();
    if (flags.ensureAudit !== undefined) {
      void ensureAuditUntilDone(rest, flags.ensureAudit, { retryMs: 30_000, log, stopped: () => exiting || !isLeader() });
    }
  };
  if (elector === undefined) {
    lead();
    return;
  }
  election = elector.run(lead);
  const outcome = await election;
  metrics.leader.set(0);
  // A replica that lost the lease exits rather than limp on; its restart campaigns afresh.
  if (outcome === 'lost') exit(1);
}

main().catch((err: unknown) => {
  process.stderr.write(`${JSON.stringify({ level: 'fatal', msg: 'operator failed', error: String(err) })}\n`);
  process.exit(1);
});
