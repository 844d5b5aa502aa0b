// Reads hack/versions.env, the one place test tool versions are pinned.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

export function pinnedVersion(key: string): string {
  const text = readFileSync(new URL('./versions.env', import.meta.url), 'utf8');
  // Lines read KEY=${KEY:-default}: the default is the pinned version.
  const match = new RegExp(`^${key}=\\$\\{${key}:-([^}]+)\\}$`, 'm').exec(text);
  if (match?.[1] === undefined) throw new Error(`${key} is not set in hack/versions.env`);
  return match[1];
}
