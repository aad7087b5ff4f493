// The project's ESLint config. It lives beside the TypeScript 5.9 that typescript-eslint needs
// (the root's TypeScript 7 has no JS API); eslint.config.js at the root only re-exports it.
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

const root = new URL('..', import.meta.url).pathname

export default tseslint.config(
	{
		ignores: [
			'dist/**',
			'dist-demo/**',
			'dist-demo-v2/**',
			'.tmp/**',
			'docs/api/**',
			'test-results/**',
			'playwright-report/**',
			'**/node_modules/**',
			// Type-checked against the packed tarball by `npm run test:package`, where its imports resolve.
			'package-smoke/**',
			// In scope only for the doc examples, which `npm run docs:examples` type-checks with it.
			'docs/examples/**',
		],
	},
	js.configs.recommended,
	...tseslint.configs.recommendedTypeChecked,
	{
		languageOptions: {
			parserOptions: { projectService: true, tsconfigRootDir: root },
		},
		rules: {
			// The rules this config exists for: a promise nobody awaits or catches loses its failure,
			// and one handed where a void callback goes (an event listener) is not awaited by its caller.
			'@typescript-eslint/no-floating-promises': 'error',
			'@typescript-eslint/no-misused-promises': 'error',
			// An async function without await is how a promise-returning interface is implemented here
			// (storage, the oidc-provider adapter, fakes): a throw in it still becomes a rejection.
			'@typescript-eslint/require-await': 'off',
			// The session's members are closures declared with method syntax in their interface; the rule cannot tell.
			'@typescript-eslint/unbound-method': 'off',
			// Rejections pass on what the platform gave (an AbortSignal's reason, an IDBRequest's DOMException), not a rewrap.
			'@typescript-eslint/prefer-promise-reject-errors': 'off',
			// A variable a closure reads before its one assignment (a fake's answer, set later in a test) cannot be const.
			'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
			// A leading underscore names a parameter an interface requires and this implementation does not use.
			'@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
		},
	},
	{
		files: ['test/**', 'e2e/**', 'e2e-webkit/**', 'bench/**'],
		rules: {
			// page.evaluate, JSON bodies and mock calls are `any` or wide unions by their libraries' types; the assertions check the values.
			'@typescript-eslint/no-unsafe-assignment': 'off',
			'@typescript-eslint/no-unsafe-member-access': 'off',
			'@typescript-eslint/no-unsafe-call': 'off',
			'@typescript-eslint/no-unsafe-return': 'off',
			'@typescript-eslint/no-unsafe-argument': 'off',
			'@typescript-eslint/no-explicit-any': 'off',
			'@typescript-eslint/no-base-to-string': 'off',
			// Playwright fixtures that use no other fixture are declared `async ({}, use)`, which Playwright parses.
			'no-empty-pattern': 'off',
		},
	},
	{
		files: ['**/*.js', '**/*.mjs'],
		...tseslint.configs.disableTypeChecked,
		languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: globals.node },
	},
)
