// ESLint with typescript-eslint's recommended rules, over every TypeScript file of the project.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', '**/dist/', 'demo/dist/', 'models/', 'test/fixtures/', 'data/', 'runs/', 'test-output/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { console: 'readonly', process: 'readonly', performance: 'readonly' },
    },
    rules: {
      // Unused names are the compiler's job (noUnusedLocals / noUnusedParameters); `_name` marks one kept on purpose.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      'max-len': ['error', { code: 140, ignoreUrls: true }],
    },
  },
);
