// proto/runtime/v1/api.proto must be the pinned k8s.io/cri-api release's file,
// byte for byte: we read what the runtimes speak, not our own edit of it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CRI_PROTO_PATH } from '../../../agent/cri/proto.ts';
import { toolDir } from '../../support/chart.ts';
import { pinnedVersion } from '../../../hack/versions.ts';

test('proto/runtime/v1/api.proto is unmodified from the pinned k8s.io/cri-api release', () => {
  const version = pinnedVersion('CRI_API_VERSION');
  const out = execFileSync(join(toolDir('go'), 'go'), ['mod', 'download', '-json', `k8s.io/cri-api@v${version}`], {
    encoding: 'utf8',
    cwd: '/',
    env: { ...process.env, GOFLAGS: '-mod=mod' },
  });
  const { Dir: dir } = JSON.parse(out) as { Dir: string };
  const upstream = readFileSync(join(dir, 'pkg/apis/runtime/v1/api.proto'));
  const ours = readFileSync(CRI_PROTO_PATH);
  assert.ok(ours.equals(upstream), `proto/ differs from k8s.io/cri-api v${version}: run hack/update-proto.sh`);
});
