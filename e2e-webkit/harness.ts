/**
 * A small WebDriver-classic harness for WebKit: Playwright's WebKit cannot drive the system's
 * WebKitGTK (it has no --inspector-pipe), WebKitWebDriver can. One MiniBrowser session and one dev
 * auth server (a fresh origin) per test, both ended by the test that started them.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { Builder, By, type WebDriver } from 'selenium-webdriver'
import { type DevAuthServer, type DevAuthServerOptions, startDevAuthServer } from '../testing/index.js'

export const demoDir = fileURLToPath(new URL('../dist-demo', import.meta.url))
export const demoV2Dir = fileURLToPath(new URL('../dist-demo-v2', import.meta.url))

const MINIBROWSER_PATHS = ['/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser', '/usr/lib/aarch64-linux-gnu/webkit2gtk-4.1/MiniBrowser', '/usr/libexec/webkit2gtk-4.1/MiniBrowser']
const miniBrowser = process.env.MINIBROWSER_PATH || MINIBROWSER_PATHS.find((path) => existsSync(path))
const webDriverBinary = process.env.WEBKIT_WEBDRIVER_PATH || 'WebKitWebDriver'

export class AssertionError extends Error {
	override readonly name = 'AssertionError'
}

export function check(condition: boolean, message: string): asserts condition {
	if (!condition) throw new AssertionError(message)
}

export function checkEqual(actual: unknown, expected: unknown, what: string): void {
	const [a, e] = [JSON.stringify(actual), JSON.stringify(expected)]
	if (a !== e) throw new AssertionError(`${what}: expected ${e}, got ${a}`)
}

/** Polls until `probe` returns a value other than undefined, or fails after timeoutMs. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
	const deadline = Date.now() + timeoutMs
	let last: unknown
	while (Date.now() < deadline) {
		try {
			const value = await probe()
			if (value !== undefined) return value
		} catch (error) {
			// A navigation in progress makes a script call fail: that is still "not yet".
			last = error
		}
		await sleep(100)
	}
	throw new AssertionError(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`)
}

/** How the demo sends its requests: the axios glue, client.fetch, or ky over client.fetch. */
export type Via = 'axios' | 'fetch' | 'ky'

export interface FireOutcome {
	ok: number
	failed: number
	errors: string[]
}

/** One browser tab. WebDriver talks to one window at a time, so every call switches to it first. */
export class Tab {
	constructor(
		readonly driver: WebDriver,
		readonly handle: string,
	) {}

	async run<T>(script: string, ...args: unknown[]): Promise<T> {
		await this.driver.switchTo().window(this.handle)
		return await this.driver.executeScript(script, ...args)
	}

	async goto(url: string): Promise<void> {
		await this.driver.switchTo().window(this.handle)
		await this.driver.get(url)
	}

	async url(): Promise<string> {
		await this.driver.switchTo().window(this.handle)
		return this.driver.getCurrentUrl()
	}

	async click(text: string): Promise<void> {
		await this.driver.switchTo().window(this.handle)
		await this.driver.findElement(By.xpath(`//button[normalize-space()='${text}']`)).click()
	}

	async state(): Promise<string | null> {
		return this.run<string | null>(`return document.getElementById('state')?.textContent ?? null`)
	}

	async waitForState(state: string, timeoutMs = 30_000): Promise<void> {
		await waitFor(`"${state}" in ${this.handle}`, async () => ((await this.state()) === state ? true : undefined), timeoutMs)
	}

	async waitForPath(path: string, timeoutMs = 15_000): Promise<void> {
		await waitFor(`path ${path} in ${this.handle}`, async () => (new URL(await this.url()).pathname === path ? true : undefined), timeoutMs)
	}

	async close(): Promise<void> {
		await this.driver.switchTo().window(this.handle)
		await this.driver.close()
	}

	async accessToken(): Promise<string | null> {
		return this.run(`return window.swtbDemo.client.getAccessToken()`)
	}

	/**
	 * Starts n requests and returns at once; the outcome goes to sessionStorage, which survives a
	 * logout's navigation. WebDriver serves one window at a time: starting every tab's requests
	 * first, then collecting, is what makes the tabs' 401s concurrent.
	 */
	async startFiring(count: number, key: string, via: Via = 'axios'): Promise<void> {
		await this.run(
			`
			const [n, key, via] = arguments
			sessionStorage.removeItem(key)
			void window.swtbDemo.fire(n, '/api/data', via).then((outcome) => sessionStorage.setItem(key, JSON.stringify(outcome)))
		`,
			count,
			key,
			via,
		)
	}

	async collect(key: string, timeoutMs = 30_000): Promise<FireOutcome> {
		const report = await waitFor(`report ${key}`, () => this.run<string | null>(`return sessionStorage.getItem(arguments[0])`, key).then((value) => value ?? undefined), timeoutMs)
		return JSON.parse(report) as FireOutcome
	}

	async fire(count: number): Promise<FireOutcome> {
		const key = `swtb-webkit-${Math.random().toString(36).slice(2)}`
		await this.startFiring(count, key)
		return this.collect(key)
	}
}

export class Browser {
	private constructor(readonly driver: WebDriver) {}

	static async open(webDriverUrl: string): Promise<Browser> {
		if (miniBrowser === undefined) throw new Error('MiniBrowser not found: apt-get install webkit2gtk-driver, or set MINIBROWSER_PATH')
		const driver = await new Builder()
			.usingServer(webDriverUrl)
			.withCapabilities({
				browserName: 'MiniBrowser',
				'webkitgtk:browserOptions': { binary: miniBrowser, args: ['--automation'] },
			})
			.build()
		return new Browser(driver)
	}

	/** The first call uses the session's initial window; later calls open a tab. */
	async newTab(url?: string): Promise<Tab> {
		const handles = await this.driver.getAllWindowHandles()
		let tab: Tab
		if (!this.usedFirst && handles[0] !== undefined) {
			this.usedFirst = true
			tab = new Tab(this.driver, handles[0])
		} else {
			await this.driver.switchTo().newWindow('tab')
			tab = new Tab(this.driver, await this.driver.getWindowHandle())
		}
		if (url !== undefined) await tab.goto(url)
		return tab
	}

	private usedFirst = false

	async close(): Promise<void> {
		await this.driver.quit()
	}
}

export async function demoReady(tab: Tab): Promise<void> {
	await waitFor('the demo page', () => tab.run<boolean>(`return 'swtbDemo' in window`).then((ready) => (ready ? true : undefined)))
}

export async function signIn(browser: Browser, server: DevAuthServer, query = ''): Promise<Tab> {
	const tab = await browser.newTab(`${server.url}/login${query}`)
	await demoReady(tab)
	await tab.click('Sign in')
	await tab.waitForPath('/')
	await tab.waitForState('signed in')
	return tab
}

export async function openSignedInTabs(browser: Browser, server: DevAuthServer, count: number, query = ''): Promise<Tab[]> {
	const tabs = [await signIn(browser, server, query)]
	for (let i = 1; i < count; i++) tabs.push(await browser.newTab(`${server.url}/${query}`))
	for (const tab of tabs) await tab.waitForState('signed in')
	return tabs
}

/**
 * Every mode's core claim: the server expires the token under every tab, each tab fires
 * `perTab` requests, all succeed, one refresh, no reuse. The refresh answers after a delay long
 * enough for the test to start every tab's requests while it runs.
 */
export async function expectOneRefreshForAllTabs(server: DevAuthServer, tabs: Tab[], perTab = 20, via: Via = 'axios'): Promise<{ elapsedMs: number; ok: number }> {
	server.resetStats()
	server.setRefreshDelay(1_500)
	server.expireAccessTokens()
	const started = Date.now()
	const keys = tabs.map((_, index) => `swtb-webkit-cycle-${started}-${index}`)
	for (const [index, tab] of tabs.entries()) await tab.startFiring(perTab, keys[index]!, via)
	const outcomes: FireOutcome[] = []
	for (const [index, tab] of tabs.entries()) outcomes.push(await tab.collect(keys[index]!))
	const elapsedMs = Date.now() - started
	for (const outcome of outcomes) checkEqual(outcome, { ok: perTab, failed: 0, errors: [] }, 'every request of a tab')
	checkEqual(server.stats().refreshCalls, 1, 'refresh calls')
	checkEqual(server.stats().refreshSuccesses, 1, 'successful refreshes')
	checkEqual(server.stats().reuseDetections, 0, 'reuse detections')
	server.setRefreshDelay(0)
	return { elapsedMs, ok: outcomes.reduce((sum, outcome) => sum + outcome.ok, 0) }
}

interface TestContext {
	browser: Browser
	server: DevAuthServer
	/** Lines printed after the test's pass line: figures worth reading in CI logs. */
	note(line: string): void
}

interface TestCase {
	name: string
	server: DevAuthServerOptions
	body: (context: TestContext) => Promise<void>
}

const tests: TestCase[] = []

export function test(name: string, body: TestCase['body'], server: DevAuthServerOptions = {}): void {
	tests.push({ name, body, server })
}

async function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const probe = createServer()
		probe.once('error', reject)
		probe.listen(0, '127.0.0.1', () => {
			const address = probe.address()
			probe.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))))
		})
	})
}

async function startWebDriver(): Promise<{ url: string; process: ChildProcess }> {
	const port = await freePort()
	const child = spawn(webDriverBinary, ['--host=127.0.0.1', `--port=${port}`], { stdio: ['ignore', 'ignore', 'inherit'] })
	const url = `http://127.0.0.1:${port}`
	await waitFor('WebKitWebDriver', () => fetch(`${url}/status`).then((response) => (response.ok ? true : undefined)), 10_000)
	return { url, process: child }
}

/** Runs every registered test (or those whose name contains WEBKIT_GREP); the last line is "N passed, N failed". */
export async function run(): Promise<void> {
	const grep = process.env.WEBKIT_GREP
	const selected = tests.filter((candidate) => grep === undefined || candidate.name.includes(grep))
	const webDriver = await startWebDriver()
	let passed = 0
	let failed = 0
	const started = Date.now()
	try {
		for (const { name, body, server: serverOptions } of selected) {
			const notes: string[] = []
			const testStarted = Date.now()
			const server = await startDevAuthServer({ staticDir: demoDir, accessTtlMs: 60_000, ...serverOptions })
			let browser: Browser | undefined
			try {
				browser = await Browser.open(webDriver.url)
				await body({ browser, server, note: (line) => notes.push(line) })
				passed++
				console.log(`  ✓ webkit › ${name} (${((Date.now() - testStarted) / 1000).toFixed(1)} s)`)
			} catch (error) {
				failed++
				console.log(`  ✘ webkit › ${name} (${((Date.now() - testStarted) / 1000).toFixed(1)} s)\n      ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
			} finally {
				for (const line of notes) console.log(`      ${line}`)
				await browser?.close().catch(() => undefined)
				await server.close()
			}
		}
	} finally {
		webDriver.process.kill()
	}
	console.log(`webkit suite: ${selected.length} tests in ${((Date.now() - started) / 1000).toFixed(1)} s`)
	console.log(`${passed} passed, ${failed} failed`)
	process.exitCode = failed > 0 || passed === 0 ? 1 : 0
}
