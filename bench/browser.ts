/**
 * The in-browser benchmarks, in real Chromium against the dev auth server on loopback:
 * page↔worker round trip, recovery after a server-side expiry for T tabs × R concurrent
 * requests (this library vs axios-auth-refresh per tab), and steady use with short-lived tokens.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { copyFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, type BrowserContext, type Page, chromium } from '@playwright/test'
import { build } from 'esbuild'
import { type DevAuthServer, type DevAuthStats, startDevAuthServer } from '../server/dev-auth-server.js'
import type * as InPage from './in-page.js'
import type { BurstOutcome } from './in-page.js'

const root = fileURLToPath(new URL('..', import.meta.url))

export const TAB_COUNTS = [1, 5, 20] as const
export const REQUEST_COUNTS = [1, 10, 100] as const
export const REFRESH_DELAY_MS = 100
const ACCESS_TTL_MS = 600_000
/** Proactive run: tokens this short-lived, one request per tab this often, for this many lifetimes. */
const PROACTIVE = { ttlMs: 3000, intervalMs: 200, lifetimes: 3, tabs: 3 } as const
const ROUND_TRIPS = { count: 1000, warmup: 100 } as const
/** Nothing in a run may hang the bench: any step of a tab that takes longer fails the scenario. */
const STEP_TIMEOUT_MS = 20_000
/** Bursts get this much more time per request: 2,000 requests share the browser's 6 connections per host. */
const MS_PER_REQUEST_ALLOWANCE = 100

export type Library = 'sw-token-broker' | 'axios-auth-refresh'

export interface RecoveryResult {
	library: Library
	tabs: number
	requests: number
	/**
	 * The same burst with a valid token: how long T×R requests take here without any refresh.
	 * Measured for the library under test only (its recovery target needs it); null otherwise.
	 */
	baselineMs: number | null
	/** From the moment all tabs fired to the last request settled. */
	wallMs: number
	/** From the first 401 (in any tab) to the last request settled; null when no 401 was seen. */
	recoveryMs: number | null
	refreshCalls: number
	api401: number
	reuseDetections: number
	ok: number
	failed: number
	errors: string[]
	/** Protocol messages all tabs sent the broker during the expiry burst, by type. */
	brokerMessages: Record<string, number>
	/** How late the last tab fired after the agreed start; large values would skew wallMs. */
	lateStartMs: number
}

/** A scenario that could not run: it timed out, failed, or the time budget was spent. */
export interface SkippedScenario {
	library: Library
	scenario: string
	reason: string
	/** The server's counters for the phase that failed, as far as it got. */
	serverStats?: DevAuthStats
}

export interface ProactiveResult {
	library: Library
	durationMs: number
	requests: number
	failed: number
	errors: string[]
	api401: number
	refreshCalls: number
	reuseDetections: number
	/** Token lifetimes that ended during the run: distinct bearer tokens the API saw, minus one. */
	tokenChanges: number
}

export interface RoundTripResult {
	count: number
	medianMs: number
	p99Ms: number
	/** From the total time: not limited by performance.now()'s 100 µs coarsening. */
	meanMs: number
}

export interface BrowserResults {
	chromium: string
	roundTrip: RoundTripResult
	/** A forced refresh seen from a tab (page → worker → token endpoint with the added delay → back). */
	refreshRoundTripMs: number
	recovery: RecoveryResult[]
	proactive: ProactiveResult[]
	skipped: SkippedScenario[]
}

type Log = (line: string) => void
type BenchWindow = { __swtbBench: typeof InPage }
type DemoWindow = { swtbDemo: { client: { refresh(): Promise<string> } } }
type AarWindow = { aarBench: { login(): Promise<void> } }

export function percentile(values: number[], p: number): number {
	const sorted = [...values].sort((a, b) => a - b)
	return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
}

export function withTimeout<T>(promise: Promise<T>, what: string, ms = STEP_TIMEOUT_MS): Promise<T> {
	let timer: NodeJS.Timeout | undefined
	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new Error(`${what} took longer than ${Math.round(ms)} ms`)), ms)
	})
	return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

function run(command: string, args: string[]): Promise<void> {
	return new Promise((resolve, reject) => {
		const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
		child.on('error', reject)
		child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}`))))
	})
}

/**
 * Builds the demo PWA from the current sources into a directory of its own: the bench measures
 * what is in src/ and sw/ now, and never rewrites dist-demo/ under a concurrently running e2e suite.
 */
export async function buildDemo(outDir: string): Promise<void> {
	await run(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'error'])
}

/** The axios-auth-refresh page: bench/aar-app bundled with axios, served by a second dev server. */
async function buildAarApp(outDir: string): Promise<void> {
	await build({
		absWorkingDir: root,
		entryPoints: ['bench/aar-app/main.ts'],
		bundle: true,
		format: 'esm',
		platform: 'browser',
		target: 'es2022',
		outfile: join(outDir, 'main.js'),
		logLevel: 'error',
	})
	await copyFile(join(root, 'bench/aar-app/index.html'), join(outDir, 'index.html'))
}

async function inPageScript(): Promise<string> {
	const result = await build({
		absWorkingDir: root,
		entryPoints: ['bench/in-page.ts'],
		bundle: true,
		format: 'iife',
		globalName: '__swtbBench',
		// Init scripts may run wrapped in a function, where the IIFE's `var` stays local.
		footer: { js: 'globalThis.__swtbBench = __swtbBench' },
		target: 'es2022',
		write: false,
		logLevel: 'error',
	})
	return result.outputFiles[0]!.text
}

export function launch(): Promise<Browser> {
	const fromEnv = process.env.CHROMIUM_PATH
	const executablePath = fromEnv || (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined)
	return chromium.launch({
		...(executablePath === undefined ? {} : { executablePath }),
		args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
	})
}

/** A library under test: its pages, its server, and what it does before each expiry cycle. */
interface Subject {
	library: Library
	/** The window global holding the page's axios instance. */
	global: string
	server: DevAuthServer
	tabs: Page[]
	/** Puts every tab in the "signed in with a valid token" state. */
	prepare(): Promise<void>
	/** Makes the current token one with the server's current TTL. */
	renewToken(): Promise<void>
	/** Reloads every tab: after a timed-out scenario, requests may still be in flight. */
	reset(): Promise<void>
	/** Epoch ms: no step of this library's scenarios may run past it. */
	deadline: number
	/** Whether to time each burst with a valid token first (it doubles a scenario's time). */
	measureBaseline: boolean
}

/** A step's own allowance, cut short by the deadline so a slow machine cannot stretch the bench. */
function stepTimeout(subject: Subject, allowanceMs: number): number {
	return Math.max(1000, Math.min(allowanceMs, subject.deadline - Date.now()))
}

export function sleep(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms))
}

export async function until(condition: () => boolean, what: string): Promise<void> {
	const giveUpAt = Date.now() + STEP_TIMEOUT_MS
	while (!condition()) {
		if (Date.now() > giveUpAt) throw new Error(`${what} did not happen within ${STEP_TIMEOUT_MS} ms`)
		await sleep(50)
	}
}

const brokerTabReady = (page: Page) => page.waitForFunction(() => document.getElementById('state')?.textContent === 'signed in', undefined, { timeout: STEP_TIMEOUT_MS })
const aarTabReady = (page: Page) => page.waitForFunction(() => 'aarBench' in window, undefined, { timeout: STEP_TIMEOUT_MS })

/** Opens `count` tabs at the app's root, a few at a time: all at once on two cores only makes each slower. */
async function openTabs(context: BrowserContext, url: string, count: number, ready: (page: Page) => Promise<unknown>): Promise<Page[]> {
	const tabs: Page[] = []
	while (tabs.length < count) {
		const batch = await Promise.all(
			Array.from({ length: Math.min(4, count - tabs.length) }, async () => {
				const page = await context.newPage()
				await page.goto(url)
				await ready(page)
				return page
			}),
		)
		tabs.push(...batch)
	}
	return tabs
}

/** Signs in on the demo's login page (`query` picks the broker mode); returns that page once it shows the app. */
export async function signInDemo(context: BrowserContext, server: DevAuthServer, query = ''): Promise<Page> {
	const login = await context.newPage()
	const before = server.stats().logins
	await login.goto(`${server.url}/login${query}`)
	await login.waitForFunction(() => 'swtbDemo' in window)
	await login.getByRole('button', { name: 'Sign in' }).click()
	// The login page may navigate to the app twice (its own redirect and the token broadcast), which
	// aborts a waitForURL: watch the server and the URL instead.
	await until(() => server.stats().logins > before && new URL(login.url()).pathname === '/', 'sign-in')
	return login
}

async function openBrokerTabs(browser: Browser, server: DevAuthServer, script: string, count: number): Promise<Page[]> {
	const context = await browser.newContext()
	await context.addInitScript({ content: script })
	const login = await signInDemo(context, server)
	const tabs = await openTabs(context, `${server.url}/`, count, brokerTabReady)
	await login.close()
	return tabs
}

async function openAarTabs(browser: Browser, server: DevAuthServer, script: string, count: number): Promise<Page[]> {
	const context = await browser.newContext()
	await context.addInitScript({ content: script })
	return openTabs(context, `${server.url}/`, count, aarTabReady)
}

/** Waits until the server has seen no request for a while: leftovers of a timed-out burst must not spill into the next scenario. */
async function quiesce(server: DevAuthServer): Promise<void> {
	const giveUpAt = Date.now() + STEP_TIMEOUT_MS
	let last = -1
	while (Date.now() < giveUpAt) {
		const { apiCalls, refreshCalls } = server.stats()
		if (apiCalls + refreshCalls === last) return
		last = apiCalls + refreshCalls
		await sleep(1000)
	}
}

async function reloadTabs(tabs: Page[], ready: (page: Page) => Promise<unknown>): Promise<void> {
	for (const page of tabs) {
		await page.reload()
		await ready(page)
	}
}

const aarLogin = async (page: Page) => {
	await page.evaluate(() => (window as unknown as AarWindow).aarBench.login())
	// localStorage reaches other renderer processes asynchronously.
	await sleep(100)
}

interface Burst {
	startAt: number
	outcomes: BurstOutcome[]
}

/** All `tabs` fire `count` requests each at one agreed instant, handed to them ahead of time. */
async function burst(subject: Subject, tabs: number, count: number, phase: string): Promise<Burst> {
	const startAt = Date.now() + 150 + 10 * tabs
	const outcomes = await Promise.all(
		subject.tabs.slice(0, tabs).map((page, i) =>
			withTimeout(
				page.evaluate(([global, at, n]) => (window as unknown as BenchWindow).__swtbBench.burst(global, at, n), [subject.global, startAt, count] as const),
				`${phase}: tab ${i + 1} of ${tabs}`,
				stepTimeout(subject, STEP_TIMEOUT_MS + tabs * count * MS_PER_REQUEST_ALLOWANCE),
			),
		),
	)
	return { startAt, outcomes }
}

function sumCounts(counts: Record<string, number>[]): Record<string, number> {
	const sum: Record<string, number> = {}
	for (const count of counts) for (const [key, value] of Object.entries(count)) sum[key] = (sum[key] ?? 0) + value
	return sum
}

function lastSettled(outcomes: BurstOutcome[]): number {
	return Math.max(...outcomes.map((outcome) => outcome.settledAt))
}

async function recoveryScenario(subject: Subject, tabs: number, requests: number): Promise<RecoveryResult> {
	const { server } = subject
	await subject.prepare()
	let baselineMs: number | null = null
	if (subject.measureBaseline) {
		// Reset here too, so the counters a timed-out scenario reports belong to its own phase.
		server.resetStats()
		const baseline = await burst(subject, tabs, requests, 'valid-token burst')
		baselineMs = lastSettled(baseline.outcomes) - baseline.startAt
	}

	server.expireAccessTokens()
	server.resetStats()
	const { startAt, outcomes } = await burst(subject, tabs, requests, 'expiry burst')
	const stats: DevAuthStats = server.stats()
	const settled = lastSettled(outcomes)
	const first401s = outcomes.flatMap((outcome) => (outcome.first401At === null ? [] : [outcome.first401At]))
	const errors = [...new Set(outcomes.flatMap((outcome) => outcome.errors))].slice(0, 5)
	return {
		library: subject.library,
		tabs,
		requests,
		baselineMs,
		wallMs: settled - startAt,
		recoveryMs: first401s.length === 0 ? null : settled - Math.min(...first401s),
		refreshCalls: stats.refreshCalls,
		api401: stats.api401,
		reuseDetections: stats.reuseDetections,
		ok: outcomes.reduce((sum, outcome) => sum + outcome.ok, 0),
		failed: outcomes.reduce((sum, outcome) => sum + outcome.failed, 0),
		errors,
		brokerMessages: sumCounts(outcomes.map((outcome) => outcome.brokerMessages)),
		lateStartMs: Math.max(...outcomes.map((outcome) => outcome.firedAt)) - startAt,
	}
}

async function proactiveScenario(subject: Subject): Promise<ProactiveResult> {
	const { server } = subject
	server.setAccessTtl(PROACTIVE.ttlMs)
	try {
		await subject.renewToken()
		server.resetStats()
		const durationMs = PROACTIVE.ttlMs * PROACTIVE.lifetimes
		const startAt = Date.now() + 300
		const outcomes = await Promise.all(
			subject.tabs.slice(0, PROACTIVE.tabs).map((page, i) =>
				withTimeout(
					page.evaluate(([global, at, interval, duration]) => (window as unknown as BenchWindow).__swtbBench.steady(global, at, interval, duration), [
						subject.global,
						startAt,
						PROACTIVE.intervalMs,
						durationMs,
					] as const),
					`${subject.library} tab ${i + 1} steady traffic`,
					stepTimeout(subject, durationMs + STEP_TIMEOUT_MS),
				),
			),
		)
		const stats = server.stats()
		// The server keeps the headers of its last 500 API requests; this run's are the newest apiCalls of them.
		const headers = server.lastApiHeaders().slice(-stats.apiCalls)
		const tokens = new Set(headers.map((header) => header.authorization).filter((value) => value !== undefined))
		return {
			library: subject.library,
			durationMs,
			requests: outcomes.reduce((sum, outcome) => sum + outcome.ok + outcome.failed, 0),
			failed: outcomes.reduce((sum, outcome) => sum + outcome.failed, 0),
			errors: [...new Set(outcomes.flatMap((outcome) => outcome.errors))].slice(0, 5),
			api401: stats.api401,
			refreshCalls: stats.refreshCalls,
			reuseDetections: stats.reuseDetections,
			tokenChanges: Math.max(0, tokens.size - 1),
		}
	} finally {
		server.setAccessTtl(ACCESS_TTL_MS)
	}
}

async function roundTrip(page: Page): Promise<RoundTripResult> {
	const { samples, totalMs } = await withTimeout(
		page.evaluate(([count, warmup]) => (window as unknown as BenchWindow).__swtbBench.roundTrips(count, warmup), [ROUND_TRIPS.count, ROUND_TRIPS.warmup] as const),
		'round trips',
	)
	return { count: samples.length, medianMs: percentile(samples, 50), p99Ms: percentile(samples, 99), meanMs: totalMs / samples.length }
}

const forcedRefresh = (page: Page) =>
	withTimeout(
		page.evaluate(async () => {
			const started = performance.now()
			await (window as unknown as DemoWindow).swtbDemo.client.refresh()
			return performance.now() - started
		}),
		'forced refresh',
	)

/**
 * Runs one library's scenarios, most important first, until its deadline. A failed or timed-out
 * scenario may leave requests in flight, so the tabs are reloaded before the next one.
 */
async function runScenarios(subject: Subject, results: BrowserResults, log: Log): Promise<void> {
	const recovery = (tabs: number, requests: number) => ({
		name: `${tabs}×${requests}`,
		run: async () => {
			const result = await recoveryScenario(subject, tabs, requests)
			results.recovery.push(result)
			log(
				`  ${subject.library} ${tabs}×${requests}: ${result.refreshCalls} refresh, ${result.api401} API 401, ${result.failed} failed, ${result.brokerMessages.refresh ?? 0} refresh messages to the broker, recovery ${result.recoveryMs?.toFixed(1) ?? '—'} ms (baseline ${result.baselineMs?.toFixed(1) ?? '—'} ms)`,
			)
		},
	})
	// Cheapest first: on a loaded machine the budget then runs out on the one large scenario
	// (reported with the server's counters so far) rather than on a dozen small ones.
	const scenarios = [
		{
			name: 'proactive',
			run: async () => {
				const proactive = await proactiveScenario(subject)
				results.proactive.push(proactive)
				log(`  ${subject.library} proactive: ${proactive.api401} API 401, ${proactive.refreshCalls} refresh for ${proactive.tokenChanges} token changes, ${proactive.failed} failed`)
			},
		},
		...TAB_COUNTS.flatMap((tabs) => REQUEST_COUNTS.map((requests) => ({ tabs, requests })))
			.sort((a, b) => a.tabs * a.requests - b.tabs * b.requests || a.tabs - b.tabs)
			.map(({ tabs, requests }) => recovery(tabs, requests)),
	]
	for (const scenario of scenarios) {
		// A scenario needs at least a few seconds; past that it is reported, not measured.
		if (subject.deadline - Date.now() < 5000) {
			results.skipped.push({ library: subject.library, scenario: scenario.name, reason: 'time budget spent' })
			continue
		}
		try {
			await scenario.run()
		} catch (error) {
			const reason = error instanceof Error ? error.message : String(error)
			const serverStats = subject.server.stats()
			log(
				`  ${subject.library} ${scenario.name}: ${reason} (server counters of that phase: ${serverStats.refreshCalls} refresh calls, ${serverStats.api401} API 401s, ${serverStats.apiCalls} API calls)`,
			)
			results.skipped.push({ library: subject.library, scenario: scenario.name, reason, serverStats })
			if (subject.deadline - Date.now() < 5000) continue
			try {
				await subject.reset()
				await quiesce(subject.server)
			} catch (resetError) {
				log(`  ${subject.library}: tabs could not be reloaded (${resetError instanceof Error ? resetError.message : String(resetError)}); its other scenarios are skipped`)
				subject.deadline = 0
			}
		}
	}
}

/** `deadline` (epoch ms) bounds the scenarios: what does not fit before it is reported as skipped or timed out. */
export async function runBrowserBench(deadline: number, log: Log = () => undefined): Promise<BrowserResults> {
	const workDir = await mkdtemp(join(tmpdir(), 'swtb-bench-'))
	const demoDir = join(workDir, 'demo')
	const aarDir = join(workDir, 'aar')
	const servers: DevAuthServer[] = []
	let browser: Browser | undefined
	try {
		log('  building the demo PWA and the axios-auth-refresh page')
		const [script] = await Promise.all([inPageScript(), buildDemo(demoDir), buildAarApp(aarDir)])
		browser = await launch()
		const maxTabs = Math.max(...TAB_COUNTS)
		const results: BrowserResults = { chromium: browser.version(), roundTrip: { count: 0, medianMs: 0, p99Ms: 0, meanMs: 0 }, refreshRoundTripMs: 0, recovery: [], proactive: [], skipped: [] }

		const brokerServer = await startDevAuthServer({ staticDir: demoDir, accessTtlMs: ACCESS_TTL_MS })
		servers.push(brokerServer)
		brokerServer.setRefreshDelay(REFRESH_DELAY_MS)
		log(`  opening ${maxTabs} signed-in demo tabs`)
		const brokerTabs = await openBrokerTabs(browser, brokerServer, script, maxTabs)
		results.roundTrip = await roundTrip(brokerTabs[0]!)
		const refreshes: number[] = []
		for (let i = 0; i < 3; i++) refreshes.push(await forcedRefresh(brokerTabs[0]!))
		results.refreshRoundTripMs = percentile(refreshes, 50)
		log(`  round trip median ${results.roundTrip.medianMs.toFixed(3)} ms; forced refresh ${results.refreshRoundTripMs.toFixed(1)} ms`)
		await runScenarios(
			{
				library: 'sw-token-broker',
				global: 'swtbDemo',
				server: brokerServer,
				tabs: brokerTabs,
				// The last cycle's new token reaches every tab by broadcast; give it a moment to land.
				prepare: () => sleep(100),
				renewToken: async () => {
					await forcedRefresh(brokerTabs[0]!)
					await sleep(100)
				},
				reset: () => reloadTabs(brokerTabs, brokerTabReady),
				// The library under test gets 70% of what is left; axios-auth-refresh, for comparison, the rest.
				deadline: Date.now() + (deadline - Date.now()) * 0.7,
				measureBaseline: true,
			},
			results,
			log,
		)
		await brokerTabs[0]!.context().close()
		await brokerServer.close()

		const aarServer = await startDevAuthServer({ staticDir: aarDir, accessTtlMs: ACCESS_TTL_MS })
		servers.push(aarServer)
		aarServer.setRefreshDelay(REFRESH_DELAY_MS)
		log(`  opening ${maxTabs} axios-auth-refresh tabs`)
		const aarTabs = await openAarTabs(browser, aarServer, script, maxTabs)
		// Every cycle starts from a fresh login: an earlier cycle may have had its session revoked.
		const freshSession = () => aarLogin(aarTabs[0]!)
		await runScenarios(
			{
				library: 'axios-auth-refresh',
				global: 'aarBench',
				server: aarServer,
				tabs: aarTabs,
				prepare: freshSession,
				renewToken: freshSession,
				reset: () => reloadTabs(aarTabs, aarTabReady),
				deadline,
				measureBaseline: false,
			},
			results,
			log,
		)
		// Run in priority order; reported in matrix order.
		const order: Library[] = ['sw-token-broker', 'axios-auth-refresh']
		results.recovery.sort((a, b) => order.indexOf(a.library) - order.indexOf(b.library) || a.tabs - b.tabs || a.requests - b.requests)
		return results
	} finally {
		await browser?.close()
		await Promise.all(servers.map((server) => server.close()))
		await rm(workDir, { recursive: true, force: true })
	}
}
