/**
 * The names the page-side examples in README.md and docs/*.md take as given, the way a snippet
 * in prose does: the client of "In the page", the values a login form or an order would hold,
 * the app's own UI (its components, interceptors and the functions that show data or an error),
 * and Playwright's fixtures inside a test. `npm run docs:examples` type-checks every example
 * with these in scope; the worker-side examples (```ts worker) get none.
 */
import type { HttpInterceptorFn } from '@angular/common/http'
import type { expect as playwrightExpect, Page } from '@playwright/test'
import type { ReactElement } from 'react'
import type { TokenClient } from 'sw-token-broker'

declare global {
	const client: TokenClient
	const username: string
	const password: string
	const order: { id: string; lines: string[] }
	/** The app's own React components. */
	function Spinner(): ReactElement
	function SignInButton(): ReactElement
	function Orders(): ReactElement
	/** The app's own Angular interceptors, listed before the token interceptor. */
	const errorInterceptor: HttpInterceptorFn
	const loggingInterceptor: HttpInterceptorFn
	const signInButton: HTMLButtonElement
	/** Renders what a live connection sent. */
	function show(data: unknown): void
	/** Tells the user why the sign-in failed. */
	function showError(code: string | undefined, message: string): void
	const page: Page
	const expect: typeof playwrightExpect
	/** The origin the app under test is served on, in a Playwright test. */
	const appUrl: string
	/** What openapi-typescript generates from an API's schema. */
	interface paths {}
	interface Window {
		/** The demo puts its client here, so Playwright's page.evaluate can reach it. */
		client: TokenClient
	}
}
