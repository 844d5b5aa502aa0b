// The architecture, checked on every `npm test` (hack/test.sh unit, and
// `npm run lint:imports`): no import loop anywhere, type-only imports
// included, and no folder importing one above it. The layers are listed once
// here, lowest first; docs/design.md and operator/README.md draw the same.
import type { IConfiguration, IForbiddenRuleType } from 'dependency-cruiser';

/** The product's folders, lowest first: each may import only those before it (and itself). */
const PRODUCT_LAYERS = ['api', 'kube', 'observability', 'cli'];
/** Every folder of this repo's code. */
const REPO_FOLDERS = [...PRODUCT_LAYERS, 'agent', 'operator', 'test', 'hack'];

/**
 * The operator's folders, lowest first: each may import only those before it
 * (and itself). machinery/ and judging/ are both at the bottom and never
 * import each other: machinery is generic, judging is the pure rules.
 */
const OPERATOR_LAYERS = [['machinery', 'judging'], ['cache'], ['views'], ['acting'], ['metrics'], ['reconcilers'], ['main.ts', 'withdraw.ts']];

const folders = (names: readonly string[]): string => `^(${names.join('|')})(/|$)`;
const operatorPaths = (names: readonly string[]): string => `^operator/(${names.map((n) => n.replace('.', '[.]')).join('|')})($|/)`;

const productRules = PRODUCT_LAYERS.map((layer, i): IForbiddenRuleType => ({
  name: `${layer}-imports-only-lower-layers`,
  comment: `${layer}/ may import only ${[...PRODUCT_LAYERS.slice(0, i), layer].join(', ')} of this repo`,
  severity: 'error',
  from: { path: folders([layer]) },
  to: { path: folders(REPO_FOLDERS), pathNot: folders(PRODUCT_LAYERS.slice(0, i + 1)) },
}));

const operatorRules = OPERATOR_LAYERS.slice(0, -1).map((layer, i): IForbiddenRuleType => {
  const above = OPERATOR_LAYERS.slice(i + 1).flat();
  return {
    name: `operator-${layer.join('-')}-imports-no-layer-above`,
    comment: `operator/${layer.join(', operator/')} may not import operator/${above.join(', operator/')}`,
    severity: 'error',
    from: { path: operatorPaths(layer) },
    to: { path: operatorPaths(above) },
  };
});

const config: IConfiguration & { forbidden: IForbiddenRuleType[] } = {
  forbidden: [
    {
      name: 'no-import-loop',
      comment: 'an import loop, type-only links included: the layers are a line, not a circle',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'judging-is-pure',
      comment: 'operator/judging/ holds the pure rules: it imports only api/ and itself (no client, no package, no node: module)',
      severity: 'error',
      from: { path: '^operator/judging/' },
      to: { pathNot: '^(operator/judging|api)/' },
    },
    {
      name: 'machinery-is-generic',
      comment: 'operator/machinery/ is controller machinery: it imports nothing else of the operator',
      severity: 'error',
      from: { path: '^operator/machinery/' },
      to: { path: '^operator/', pathNot: '^operator/machinery/' },
    },
    {
      name: 'agent-and-operator-apart',
      comment: 'the two processes share only api/, kube/, observability/ and cli/',
      severity: 'error',
      from: { path: '^(agent|operator)/' },
      to: { path: '^(agent|operator)/', pathNot: '^$1/' },
    },
    {
      name: 'product-never-imports-tests-or-tools',
      comment: 'what ships in the image imports nothing from test/ or hack/',
      severity: 'error',
      from: { path: '^(agent|api|cli|kube|observability|operator)/' },
      to: { path: '^(test|hack)/' },
    },
    ...productRules,
    ...operatorRules,
  ],
  options: {
    // Type-only imports are dependencies too: a type-only loop is still a loop.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: '^node_modules/' },
    exclude: { path: '^(node_modules|\\.testbed)/' },
  },
};

export default config;
