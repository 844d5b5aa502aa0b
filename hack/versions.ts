// Reads hack/versions.env, the one place test tool versions are pinned.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** A Kubernetes version's minor: 37 for 1.37.2 or v1.37.2. */
export function minorOf(version: string): number {
  const minor = /^v?1\.(\d+)\.\d+/.exec(version)?.[1];
  if (minor === undefined) throw new Error(`${version} is not a Kubernetes version (1.<minor>.<patch>)`);
  return Number(minor);
}

export function pinnedVersion(key: string): string {
  const text = readFileSync(new URL('./versions.env', import.meta.url), 'utf8');
  // Lines read KEY=${KEY:-default}: the default is the pinned version.
  const match = new RegExp(`^${key}=\\$\\{${key}:-([^}]+)\\}$`, 'm').exec(text);
  if (match?.[1] === undefined) throw new Error(`${key} is not set in hack/versions.env`);
  return match[1];
}
