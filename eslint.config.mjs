// ESLint flat config for the whole workspace: typescript-eslint's recommended rules plus Nx's
// module-boundary rule, which enforces the project tags (see docs/architecture.md).
import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const depConstraints = [
  // The resilience lib is copied into other repos: it may depend on nothing in the workspace.
  { sourceTag: 'scope:resilience', onlyDependOnLibsWithTags: [] },
  { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:util'] },
  { sourceTag: 'type:data-access', onlyDependOnLibsWithTags: ['type:util', 'type:data-access'] },
  { sourceTag: 'type:feature', onlyDependOnLibsWithTags: ['type:util', 'type:data-access', 'type:feature'] },
  // Services never import each other: they talk over HTTP.
  { sourceTag: 'type:service', onlyDependOnLibsWithTags: ['type:util', 'type:data-access', 'type:feature'] },
  { sourceTag: 'type:agent', onlyDependOnLibsWithTags: ['type:util', 'type:data-access', 'type:feature'] },
  { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['type:util', 'type:data-access', 'type:feature', 'type:tool'] },
  // Test harnesses start real systems for tests (a kube-apiserver) with the process toolkit.
  { sourceTag: 'type:test-harness', onlyDependOnLibsWithTags: ['type:util'] },
  // The benchmark kit stands alone (it imports nothing of the workspace).
  { sourceTag: 'type:bench', onlyDependOnLibsWithTags: [] },
];
// Benchmarks (never part of what a lib ships or teams copy) may use the benchmark kit besides what their
// project may use.
const benchConstraints = depConstraints.map((c) => ({
  ...c,
  onlyDependOnLibsWithTags: [...c.onlyDependOnLibsWithTags, 'type:bench'],
}));

// Tests may also use the test harnesses (a real kube-apiserver), which no shipped code may import.
const testConstraints = depConstraints.map((c) => ({
  ...c,
  onlyDependOnLibsWithTags: [...c.onlyDependOnLibsWithTags, 'type:test-harness'],
}));

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '**/coverage/**',
      '**/.nx/**',
      '**/reports/**',
      'tools/dashboard/web/dist/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mjs', '**/*.js'],
    plugins: { '@nx': nx },
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        performance: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        Buffer: 'readonly',
        fetch: 'readonly',
        structuredClone: 'readonly',
        DOMException: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
      },
    },
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints,
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/naming-convention': [
        'error',
        { selector: 'interface', format: ['PascalCase'], custom: { regex: '^I[A-Z]', match: false } },
      ],
    },
  },
  {
    // The dashboard page runs in a browser.
    files: ['tools/chaos/web/**/*.js'],
    languageOptions: { globals: { window: 'readonly', document: 'readonly', fetch: 'readonly' } },
  },
  {
    files: ['**/bench/**/*.ts', '**/*.bench.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        { enforceBuildableLibDependency: false, allow: [], depConstraints: benchConstraints },
      ],
    },
  },
  {
    files: ['**/*.test.ts', '**/test/**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        { enforceBuildableLibDependency: false, allow: [], depConstraints: testConstraints },
      ],
    },
  },
  {
    // Config files import the workspace's shared settings (the root project) by path, by design.
    files: ['**/vitest.config.ts'],
    rules: { '@nx/enforce-module-boundaries': 'off' },
  },
  {
    files: ['**/*.test.ts', '**/bench/**/*.ts', '**/*.bench.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    // One concept per file and functions a reader can hold (STYLE.md): source files under 400 lines and
    // functions under 100, blank lines and comments not counted. A longer one states its reason in an
    // eslint-disable comment beside it. Tests and benchmarks read top to bottom and are exempt.
    files: ['**/*.ts'],
    ignores: ['**/*.test.ts', '**/test/**', '**/bench/**', '**/*.bench.ts', '**/*.d.ts'],
    rules: {
      'max-lines-per-function': ['error', { max: 100, skipBlankLines: true, skipComments: true, IIFEs: true }],
      'max-lines': ['error', { max: 400, skipBlankLines: true, skipComments: true }],
    },
  },
);
