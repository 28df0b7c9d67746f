// Lint rules for the whole tree: typescript-eslint's recommended set on top of ESLint's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-console': 'off',
    },
  },
  {
    // The API edges parse, authorize, call a domain service and render: they never reach the
    // database. Row types may be imported as types.
    files: ['src/api/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'kysely',
              message: 'API edges do not query the database; call a domain service.',
              allowTypeImports: true,
            },
          ],
          patterns: [
            {
              group: ['**/db', '**/db/*', '**/db/repos/*'],
              message:
                'API edges do not use repositories or the Db; call a domain service (see src/api/services.ts).',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
