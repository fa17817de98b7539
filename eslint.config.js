import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const temporalPackages = ['@temporalio/*'];

export default tseslint.config(
  { ignores: ['node_modules/**', '.keyturn/**', 'dist/**', 'test-artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Workflows are replayed deterministically: they may import only types from activities,
    // and nothing that touches I/O, clocks or the domain agents directly.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/activities', '**/activities/**'], allowTypeImports: true, message: 'Workflows may import only types from activities.' },
            { group: ['**/agents/**', '**/db/**', '**/infra/**', '**/http/**', '**/slack/**', '**/cli/**', '**/config/**'], message: 'Workflows contain orchestration only; reach the outside world through activities.' },
            { group: ['node:*', 'pg', 'jose', '@slack/*', 'pino', 'fs', 'crypto', 'http'], message: 'Workflows must stay deterministic: no I/O modules.' },
          ],
        },
      ],
    },
  },
  {
    // Agents hold domain logic only; Temporal stays in activities/, workflows/ and workers/.
    files: ['agents/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: temporalPackages, message: 'agents/ must be free of Temporal imports; adapt them in activities/.' }] },
      ],
    },
  },
);
