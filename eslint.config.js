// ESLint (flat config): the recommended JavaScript and typescript-eslint rules over the sources, tests and
// benchmarks. Folder boundaries (the layer order of docs/architecture.md) are checked by dependency-cruiser
// (.dependency-cruiser.cjs), which resolves every import rather than matching its text.
import js from '@eslint/js'
import {defineConfig} from 'eslint/config'
import tseslint from 'typescript-eslint'

export default defineConfig(
  {ignores: ['dist/', 'node_modules/']},
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.cjs'],
    languageOptions: {sourceType: 'commonjs', globals: {module: 'writable', require: 'readonly'}},
  },
  {
    // workload recipes are plain Node scripts run inside the lab's guests
    files: ['traces/recipes/**/*.cjs'],
    languageOptions: {globals: {process: 'readonly', console: 'readonly', __filename: 'readonly'}},
    rules: {'@typescript-eslint/no-require-imports': 'off'},
  },
  {
    rules: {
      // `const {dropped: _d, ...rest} = x` is how a field is left out of a copy
      '@typescript-eslint/no-unused-vars': ['error', {ignoreRestSiblings: true}],
    },
  },
)
