// Label selectors as Kubernetes defines them, and which pods an audit covers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { auditCovers, matchesSelector, parseEqualitySelector, type LabelSelector } from '../../../../operator/judging/selection.ts';

describe('matchesSelector', () => {
  const labels = { team: 'payments', tier: 'prod' };
  const cases: [string, LabelSelector | undefined, boolean][] = [
    ['absent selects everything', undefined, true],
    ['empty selects everything', {}, true],
    ['matchLabels all present', { matchLabels: { team: 'payments' } }, true],
    ['matchLabels one differs', { matchLabels: { team: 'payments', tier: 'dev' } }, false],
    ['In: listed', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['prod', 'staging'] }] }, true],
    ['In: not listed', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['dev'] }] }, false],
    ['In: label absent', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, false],
    ['NotIn: label absent counts as not in', { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, true],
    ['NotIn: listed', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['prod'] }] }, false],
    ['Exists', { matchExpressions: [{ key: 'team', operator: 'Exists' }] }, true],
    ['DoesNotExist', { matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] }, false],
    [
      'labels and expressions must all hold',
      { matchLabels: { team: 'payments' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['dev'] }] },
      false,
    ],
  ];
  for (const [name, selector, want] of cases) {
    test(name, () => {
      assert.equal(matchesSelector(selector, labels), want);
    });
  }
  test('a label whose value is empty exists', () => {
    assert.equal(matchesSelector({ matchExpressions: [{ key: 'flag', operator: 'Exists' }] }, { flag: '' }), true);
  });
});

describe('parseEqualitySelector', () => {
  test('k=v and k==v pairs', () => {
    assert.deepEqual(parseEqualitySelector('a=b, c==d'), { a: 'b', c: 'd' });
    assert.throws(() => parseEqualitySelector(''), /at least one key=value/);
    assert.throws(() => parseEqualitySelector('app=a b'), /"a b" is not a label value/);
    assert.throws(() => parseEqualitySelector('example.com/-x=y'), /"example.com\/-x" is not a label key/);
    assert.deepEqual(parseEqualitySelector('app.kubernetes.io/component=agent'), { 'app.kubernetes.io/component': 'agent' });
  });
  test('anything else is refused, naming the part', () => {
    assert.throws(() => parseEqualitySelector('a!=b'), /"a!=b" is not of the form key=value/);
    assert.throws(() => parseEqualitySelector('lonely'), /"lonely"/);
  });
});

describe('auditCovers', () => {
  test('pods without a RuntimeClass only when the audit asks', () => {
    assert.equal(auditCovers({}, {}, {}), false);
    assert.equal(auditCovers({ auditPodsWithoutRuntimeClass: true }, {}, {}), true);
    assert.equal(auditCovers({}, { runtimeClassName: 'kata' }, {}), true);
  });
  test('an audit that requires RuntimeClasses covers pods without one: they break its rule', () => {
    assert.equal(auditCovers({ requiredRuntimeClasses: ['gvisor'] }, {}, {}), true);
    assert.equal(auditCovers({ requiredRuntimeClasses: ['gvisor'], namespaceSelector: { matchLabels: { tier: 'payments' } } }, {}, { tier: 'web' }), false);
  });
  test('the namespace must be selected; an unknown namespace has no labels', () => {
    const scope = { namespaceSelector: { matchLabels: { audited: 'yes' } } };
    assert.equal(auditCovers(scope, { runtimeClassName: 'kata' }, { audited: 'yes' }), true);
    assert.equal(auditCovers(scope, { runtimeClassName: 'kata' }, { audited: 'no' }), false);
    assert.equal(auditCovers(scope, { runtimeClassName: 'kata' }, undefined), false);
  });
});
