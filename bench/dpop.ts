/**
 * What DPoP adds to a request in the browser: the same requests through client.fetch, bearer and
 * DPoP-bound, in the same run, with a fetch that answers at once, so only the client side is
 * measured (for DPoP: the proof's ECDSA signature, the token's SHA-256, the nonce and clock
 * bookkeeping). Rounds alternate between the two pages; the figure is the difference of medians.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from '@playwright/test'
import { startDevAuthServer } from '../testing/index.js'
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
}

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
		const result = { bearerMs: median(bearerRounds), dpopMs: median(dpopRounds), addedMs: 0, signatureMs: median(signatureRounds), requestsPerRound: REQUESTS_PER_ROUND, rounds: ROUNDS }
		result.addedMs = result.dpopMs - result.bearerMs
		log(`DPoP: ${result.dpopMs.toFixed(3)} ms vs bearer ${result.bearerMs.toFixed(3)} ms per request (one bare signature: ${result.signatureMs.toFixed(3)} ms)`)
		return result
	} finally {
		await browser.close()
		await Promise.all(servers.map((server) => server.close()))
		await rm(demo, { recursive: true, force: true })
	}
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await runDPoPCost(console.error))
