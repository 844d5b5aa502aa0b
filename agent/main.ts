// runtimeclass-audit agent: one per node (a DaemonSet). Flags are parsed
// here and nowhere else; the agent gets its clients handed in.
//   node agent/main.ts --node-name NODE [--cri-endpoint unix:///...] ...
import { Command } from 'commander';
import { boundedCount, boundedDuration, objectName, withListenFlags, type ListenFlags } from '../cli/flags.ts';
import { serveMetrics } from '../cli/serve.ts';
import { VERSION } from '../cli/version.ts';
import { connect } from '../kube/connection.ts';
import { KubeRest } from '../kube/rest.ts';
import { createLogger } from '../observability/logger.ts';
import { NodeAgent } from './agent.ts';
import { DEFAULT_CRI_ENDPOINTS, detectCriEndpoint } from './cri/endpoint.ts';
import { KUBELET_MAX_MESSAGE_BYTES } from './cri/proto.ts';
import { CriRuntimeClient } from './cri/runtime-client.ts';
import { KataHostRecords } from './evidence/kata-host.ts';
import { ProcEvidence } from './evidence/proc.ts';
import { AgentMetrics } from './metrics.ts';
import { ReportWriter } from './report-writer.ts';

interface Flags extends ListenFlags {
  nodeName: string;
  criEndpoint?: string;
  interval: number;
  resync: number;
  runtimeRefresh: number;
  criTimeout: number;
  criMaxMessageBytes: number;
  apiTimeout: number;
  kubeconfig?: string;
  procRoot: string;
  kataStateRoot: string;
  kataRecords: boolean;
  isolationEvidence: boolean;
}

function parseFlags(argv: string[]): Flags {
  const program = new Command('rcaudit-agent')
    .description('Reports which CRI handler and runtime type every pod sandbox on this node really got.')
    .requiredOption('--node-name <name>', "this node's name (from the downward API)", objectName, process.env['NODE_NAME'])
    .option('--cri-endpoint <endpoint>', `the CRI socket; default: the first that exists of ${DEFAULT_CRI_ENDPOINTS.join(', ')}`, process.env['CRI_ENDPOINT'])
    .option('--interval <duration>', "how often to list the node's sandboxes", boundedDuration('interval'), 1000)
    .option('--resync <duration>', 'how often to re-check the stored report even when nothing changed', boundedDuration('resync'), 300_000)
    .option('--runtime-refresh <duration>', "how often to re-read the runtime's version and handler config", boundedDuration('runtime-refresh'), 300_000)
    .option('--cri-timeout <duration>', 'deadline of each CRI call', boundedDuration('cri-timeout'), 5000)
    .option(
      '--cri-max-message-bytes <bytes>',
      "largest CRI answer accepted (the kubelet's limit is 16 MiB; 256 bytes to 256 MiB)",
      boundedCount('cri-max-message-bytes'),
      KUBELET_MAX_MESSAGE_BYTES,
    )
    .option('--api-timeout <duration>', 'deadline of each API server request', boundedDuration('api-timeout'), 10_000)
    .option('--kubeconfig <file>', 'kubeconfig file; default: in-cluster config, then $KUBECONFIG')
    .option('--proc-root <dir>', "the host's /proc, read for isolation evidence (in a pod: the host's /proc mounted read-only)", '/proc')
    .option('--no-isolation-evidence', "do not read the host's /proc: the report says evidence is Disabled")
    .option(
      '--kata-state-root <dir>',
      "where the host's /run/vc/sbs and /run/kata are (Kata's records of its sandboxes, which confirm a VM); in a pod: mounted read-only",
      '/run',
    )
    .option('--no-kata-records', "do not read Kata's records: a VM's evidence rests on its process structure alone")
    .showHelpAfterError();
  withListenFlags(program).parse(argv);
  return program.opts<Flags>();
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv);
  const log = createLogger('agent');
  const metrics = new AgentMetrics();
  const onCall = metrics.observeCri.bind(metrics);
  const rest = new KubeRest(await connect(flags.kubeconfig), { timeoutMs: flags.apiTimeout, observe: metrics.observeRequest.bind(metrics) });
  const agent = new NodeAgent(
    { nodeName: flags.nodeName, agentVersion: VERSION, intervalMs: flags.interval, resyncMs: flags.resync, runtimeRefreshMs: flags.runtimeRefresh },
    {
      connect: () => {
        const endpoint = flags.criEndpoint ?? detectCriEndpoint();
        if (endpoint === undefined) {
          return { endpoint: '', error: `no CRI socket found at any of ${DEFAULT_CRI_ENDPOINTS.join(', ')}; set --cri-endpoint` };
        }
        return { endpoint, cri: new CriRuntimeClient(endpoint, { deadlineMs: flags.criTimeout, maxMessageBytes: flags.criMaxMessageBytes, onCall }) };
      },
      ...(flags.isolationEvidence
        ? { evidence: new ProcEvidence(flags.procRoot, flags.kataRecords ? { kata: new KataHostRecords(flags.kataStateRoot) } : {}) }
        : {}),
      sink: new ReportWriter(rest, flags.nodeName),
      log,
      metrics,
    },
  );
  const server = await serveMetrics(flags, { registry: metrics.registry, probes: agent, rest, log });
  log.info({ node: flags.nodeName, endpoint: flags.criEndpoint ?? 'auto-detect', address: server.address() }, 'agent starting');
  agent.start();
  const shutdown = (signal: string): void => {
    log.info({ signal }, 'shutting down');
    void agent.stop().finally(() => {
      server.close();
      process.exit(0);
    });
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`${JSON.stringify({ level: 'fatal', msg: 'agent failed to start', error: String(err) })}\n`);
  process.exit(1);
});
