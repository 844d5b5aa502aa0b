// Starting our own processes (agent, operator, proxies) from tests, with
// their output kept for the failure message, and always stopped afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { REPO_ROOT } from '../../hack/versions.ts';

export interface Started {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export function startNodeScript(script: string, args: string[], env: Record<string, string> = {}): Started {
  return startProcess(process.execPath, [script, ...args], env);
}

/** Starts `command` in the repository's root. */
export function startProcess(command: string, args: string[], env: Record<string, string> = {}): Started {
  const child = spawn(command, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  return {
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (typeof address === 'object' && address !== null) resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/** Runs the agent for `node` against the testbed (300 ms scans, 3 s resync); `extra` flags come last and win. */
export async function startAgent(
  testbed: { kubeconfig: string },
  node: { name: string },
  criEndpoint: string,
  extra: string[] = [],
): Promise<{ agent: Started; port: number }> {
  const port = await freePort();
  const agent = startNodeScript('agent/main.ts', [
    '--node-name',
    node.name,
    '--cri-endpoint',
    criEndpoint,
    '--kubeconfig',
    testbed.kubeconfig,
    '--interval',
    '300ms',
    '--resync',
    '3s',
    '--listen-host',
    '127.0.0.1',
    '--listen-port',
    String(port),
    ...extra,
  ]);
  return { agent, port };
}
