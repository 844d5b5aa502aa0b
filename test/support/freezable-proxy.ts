// A TCP relay in front of the API server that can freeze every connection it
// carries: bytes stop flowing both ways but no socket closes, which is how a
// watch goes silent behind a broken NAT or load balancer. Or reset them: a
// transport error, as when a load balancer or the API server goes away. Connections opened
// after the freeze flow normally, unless it is told to swallow them too (a
// black hole). Pure TCP: TLS passes through untouched.
import { readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { parse, stringify } from 'yaml';

export interface FreezableProxy {
  port: number;
  /** A copy of `kubeconfig` that talks through the relay. */
  kubeconfig: string;
  /** Stops the flow on every connection open now. */
  freeze(): void;
  /** Resets every connection open now (a TCP RST to the client): a transport error in the middle of whatever it carried. */
  reset(): void;
  /** While true, new connections are accepted and then get nothing: an API server that takes requests and never answers. */
  blackhole(on: boolean): void;
  close(): Promise<void>;
}

interface Kubeconfig {
  clusters: { cluster: { server: string } }[];
}

export async function startFreezableProxy(kubeconfig: string, outFile: string): Promise<FreezableProxy> {
  const config = parse(readFileSync(kubeconfig, 'utf8')) as Kubeconfig;
  const cluster = config.clusters[0]?.cluster;
  if (cluster === undefined) throw new Error(`${kubeconfig} names no cluster`);
  const upstream = new URL(cluster.server);
  const pairs: [Socket, Socket][] = [];
  const frozen: [Socket, Socket][] = [];
  const held: Socket[] = [];
  let swallowing = false;
  const server: Server = createServer((client) => {
    if (swallowing) {
      client.pause();
      held.push(client);
      return;
    }
    const target = createConnection({ host: upstream.hostname, port: Number(upstream.port || 443) });
    client.pipe(target);
    target.pipe(client);
    const end = (): void => {
      client.destroy();
      target.destroy();
    };
    client.on('error', end);
    target.on('error', end);
    client.on('close', end);
    target.on('close', end);
    pairs.push([client, target]);
  });
  // The API server's certificate names its IP, not a port: listen on the same address.
  await new Promise<void>((resolve) => server.listen(0, upstream.hostname, resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  cluster.server = `https://${upstream.hostname}:${String(address.port)}`;
  writeFileSync(outFile, stringify(config));
  return {
    port: address.port,
    kubeconfig: outFile,
    freeze: () => {
      for (const [client, target] of pairs.splice(0)) {
        frozen.push([client, target]);
        client.unpipe(target);
        target.unpipe(client);
        client.pause();
        target.pause();
      }
    },
    reset: () => {
      for (const [client, target] of pairs.splice(0)) {
        client.resetAndDestroy();
        target.destroy();
      }
    },
    blackhole: (on) => {
      swallowing = on;
    },
    close: async () => {
      // server.close() waits for every connection: the frozen ones must go too.
      for (const [client, target] of [...pairs.splice(0), ...frozen.splice(0)]) {
        client.destroy();
        target.destroy();
      }
      for (const client of held.splice(0)) client.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
