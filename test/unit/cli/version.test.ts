// The version is written once, in package.json; the chart says the same.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { VERSION } from '../../../cli/version.ts';

test("Chart.yaml's version and appVersion are package.json's version", () => {
  const chart = parse(readFileSync(new URL('../../../charts/runtimeclass-audit/Chart.yaml', import.meta.url), 'utf8')) as {
    version: string;
    appVersion: string;
  };
  assert.match(VERSION, /^\d+\.\d+\.\d+/);
  assert.deepEqual([chart.version, chart.appVersion], [VERSION, VERSION]);
});
