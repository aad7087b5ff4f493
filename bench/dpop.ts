/**
 * What DPoP adds to a request in the browser: the same requests through client.fetch, bearer and
 * DPoP-bound, in the same run, with a fetch that answers at once, so only the client side is
 * measured (for DPoP: the proof's ECDSA signature, the token's SHA-256, the nonce and clock
 * bookkeeping). Rounds alternate between the two pages; the figure is the difference of medians.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrowserContext, Page } from '@playwright/test'
import { type DevAuthServer, startDevAuthServer } from '../testing/index.js'
import { buildDemo, launch, signInDemo } from './browser.js'

export interface DPoPCostResult {
	/** Median over rounds of the time one sequential client.fetch took, ms. */
	bearerMs: number
	dpopMs: number
	addedMs: number
	/** The floor under the added time: one bare WebCrypto ES256 signature, timed in the same rounds. */
	signatureMs: number
	requestsPerRound: number
	rounds: number
	/** One expiry under 20 tabs × 100 requests, every token DPoP-bound: the one-refresh figure with DPoP on. */
	recovery: { tabs: number; requests: number; refreshCalls: number; refreshSuccesses: number; failed: number; proofsRefused: number } | undefined
}

const RECOVERY_TABS = 20
const RECOVERY_REQUESTS = 100
/** Long enough that every tab's 401s arrive while the refresh runs, as in the main recovery bench. */
const RECOVERY_REFRESH_DELAY_MS = 100

const REQUESTS_PER_ROUND = 200
const ROUNDS = 7
const WARM_UP = 20

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/** Sequential client.fetch calls over an instant fetch; the page's own fetch is put back afterwards. */
function timeRequests(page: Page, count: number): Promise<number> {
	return page.evaluate(async (n) => {
		const { client } = (window as unknown as { swtbDemo: { client: { fetch(url: string): Promise<Response> } } }).swtbDemo
		const real = window.fetch
		window.fetch = async () => new Response(null, { status: 200 })
		try {
			const started = performance.now()
			for (let i = 0; i < n; i++) await client.fetch('/api/data')
			return (performance.now() - started) / n
		} finally {
			window.fetch = real
		}
	}, count)
}

/** Sequential ES256 signatures of a proof-sized input with a non-extractable key, as the DPoP step makes them. */
function timeSignatures(page: Page, count: number): Promise<number> {
	return page.evaluate(async (n) => {
		const { privateKey } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])
		const data = new TextEncoder().encode('x'.repeat(400))
		const started = performance.now()
		for (let i = 0; i < n; i++) await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, data)
		return (performance.now() - started) / n
	}, count)
}

/** 20 DPoP tabs, every access token expired at the server, 100 requests from each at once. */
async function recoveryWithDPoP(context: BrowserContext, server: DevAuthServer, first: Page): Promise<DPoPCostResult['recovery']> {
	const tabs = [first]
	while (tabs.length < RECOVERY_TABS) {
		const page = await context.newPage()
		await page.goto(`${server.url}/?dpop=1`)
		await page.waitForFunction(() => document.getElementById('state')?.textContent === 'signed in', undefined, { timeout: 60_000 })
		tabs.push(page)
	}
	server.resetStats()
	const refusedBefore = server.dpopStats().refused
	server.setRefreshDelay(RECOVERY_REFRESH_DELAY_MS)
	server.expireAccessTokens()
	const outcomes = await Promise.all(
		tabs.map((tab) =>
			tab.evaluate((n) => (window as unknown as { swtbDemo: { fire(n: number, path: string): Promise<{ ok: number; failed: number }> } }).swtbDemo.fire(n, '/api/data'), RECOVERY_REQUESTS),
		),
	)
	server.setRefreshDelay(0)
	const { refreshCalls, refreshSuccesses } = server.stats()
	return {
		tabs: RECOVERY_TABS,
		requests: RECOVERY_REQUESTS,
		refreshCalls,
		refreshSuccesses,
		failed: outcomes.reduce((sum, o) => sum + o.failed, 0),
		proofsRefused: server.dpopStats().refused - refusedBefore,
	}
}

export async function runDPoPCost(log: (line: string) => void = () => undefined): Promise<DPoPCostResult> {
	const demo = await mkdtemp(join(tmpdir(), 'swtb-bench-dpop-'))
	const browser = await launch()
	const servers = await Promise.all([startDevAuthServer({ staticDir: demo, accessTtlMs: 3_600_000 }), startDevAuthServer({ staticDir: demo, accessTtlMs: 3_600_000 })])
	try {
		await buildDemo(demo)
		const context = await browser.newContext()
		// Two origins, so each has its own worker: one bearer, one DPoP.
		const bearer = await signInDemo(context, servers[0])
		const dpop = await signInDemo(context, servers[1], '?dpop=1')
		await dpop.waitForFunction(() => document.getElementById('state')?.textContent === 'signed in')
		for (const page of [bearer, dpop]) await timeRequests(page, WARM_UP)
		const bearerRounds: number[] = []
		const dpopRounds: number[] = []
		const signatureRounds: number[] = []
		for (let round = 0; round < ROUNDS; round++) {
			bearerRounds.push(await timeRequests(bearer, REQUESTS_PER_ROUND))
			dpopRounds.push(await timeRequests(dpop, REQUESTS_PER_ROUND))
			signatureRounds.push(await timeSignatures(dpop, REQUESTS_PER_ROUND))
		}
		const dpopMs = median(dpopRounds)
		const bearerMs = median(bearerRounds)
		log(`DPoP: ${dpopMs.toFixed(3)} ms vs bearer ${bearerMs.toFixed(3)} ms per request (one bare signature: ${median(signatureRounds).toFixed(3)} ms)`)
		await bearer.close()
		const recovery = await recoveryWithDPoP(context, servers[1], dpop).catch((error: unknown) => {
			log(`DPoP recovery not measured: ${error instanceof Error ? error.message : String(error)}`)
			return undefined
		})
		return { bearerMs, dpopMs, addedMs: dpopMs - bearerMs, signatureMs: median(signatureRounds), requestsPerRound: REQUESTS_PER_ROUND, rounds: ROUNDS, recovery }
	} finally {
		await browser.close()
		await Promise.all(servers.map((server) => server.close()))
		await rm(demo, { recursive: true, force: true })
	}
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await runDPoPCost(console.error))
