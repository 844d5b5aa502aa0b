// Type-aware linting in the spirit of Pepr's root config: promises must be
// awaited or handled, functions stay small and shallow.
import eslint from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig({ ignores: ['node_modules/**', '.testbed/**', 'charts/**'] }, eslint.configs.recommended, tseslint.configs.strictTypeChecked, {
  languageOptions: {
    parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
  },
  rules: {
    '@typescript-eslint/no-floating-promises': [
      'error',
      // node:test's test()/describe() promises are awaited by the runner itself.
      { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] },
    ],
    '@typescript-eslint/no-misused-promises': 'error',
    '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
    complexity: ['error', 10],
    'max-depth': ['error', 3],
    'max-params': ['error', 4],
  },
});
