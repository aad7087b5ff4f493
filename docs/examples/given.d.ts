/**
 * The names the page-side examples in README.md and docs/*.md take as given, the way a snippet
 * in prose does: the client of "In the page", the values a login form or an order would hold,
 * and Playwright's fixtures inside a test. `npm run docs:examples` type-checks every example
 * with these in scope; the worker-side examples (```ts worker) get none.
 */
import type { expect as playwrightExpect, Page } from '@playwright/test'
import type { TokenClient } from 'sw-token-broker'

declare global {
	const client: TokenClient
	const username: string
	const password: string
	const order: { id: string; lines: string[] }
	const page: Page
	const expect: typeof playwrightExpect
	/** What openapi-typescript generates from an API's schema. */
	interface paths {}
	interface Window {
		/** The demo puts its client here, so Playwright's page.evaluate can reach it. */
		client: TokenClient
	}
}
