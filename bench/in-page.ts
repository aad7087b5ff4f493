/**
 * Runs inside the benchmark's browser tabs (bundled as an IIFE and added with addInitScript),
 * so the timings are taken where the requests are made, not across the DevTools protocol.
 */
import { connectServiceWorker } from '../src/transports/service-worker.js'

interface Api {
	get(url: string): Promise<unknown>
}

export interface BurstOutcome {
	/** Epoch ms (sub-ms precision) when this tab fired. */
	firedAt: number
	/** Epoch ms when this tab's last request settled. */
	settledAt: number
	/** Epoch ms when the first 401 response of this tab ended; null when none came back. */
	first401At: number | null
	ok: number
	failed: number
	/** A few distinct failure descriptions. */
	errors: string[]
	/** Protocol messages this tab sent its broker during the burst, by type. */
	brokerMessages: Record<string, number>
}

const API_PATH = '/api/data'
/**
 * Each request of a burst gets a URL of its own, as an app's requests have. Chromium's HTTP cache
 * queues concurrent GETs of one URL behind each other, and that queue gets slower the longer it
 * is: 2,000 identical GETs ran about one at a time, and a recovery, whose retries join the same
 * queue, took three times the burst instead of two.
 */
const TAB = Math.random().toString(36).slice(2, 8)

/**
 * Protocol messages this tab posted to a service worker, by type. Counted by wrapping
 * ServiceWorker.prototype.postMessage before the page's own scripts run: it shows how many
 * broker round trips a burst costs, which the server's counters cannot see.
 */
const brokerMessages: Record<string, number> = {}
if (typeof ServiceWorker !== 'undefined') {
	const post = ServiceWorker.prototype.postMessage as (this: ServiceWorker, ...args: unknown[]) => void
	ServiceWorker.prototype.postMessage = function (this: ServiceWorker, ...args: unknown[]) {
		const message = args[0] as { swtb?: unknown; type?: unknown } | null
		if (typeof message === 'object' && message !== null && message.swtb !== undefined) {
			const type = String(message.type)
			brokerMessages[type] = (brokerMessages[type] ?? 0) + 1
		}
		post.apply(this, args)
	} as ServiceWorker['postMessage']
}

function takeBrokerMessages(): Record<string, number> {
	const taken = { ...brokerMessages }
	for (const type of Object.keys(brokerMessages)) delete brokerMessages[type]
	return taken
}

/** The page's axios instance: window.swtbDemo.api in the demo, window.aarBench.api in the axios-auth-refresh page. */
function apiOf(global: string): Api {
	const app = (window as unknown as Record<string, { api?: Api } | undefined>)[global]
	if (app?.api === undefined) throw new Error(`window.${global}.api is missing`)
	return app.api
}

function epochNow(): number {
	return performance.timeOrigin + performance.now()
}

/** setTimeout gets close; the short spin makes every tab fire within a millisecond of startAt. */
async function waitUntil(epochMs: number): Promise<void> {
	const wait = epochMs - Date.now() - 2
	if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
	while (Date.now() < epochMs) {
		// spin
	}
}

function describe(reason: unknown): string {
	const error = reason as { name?: string; response?: { status?: number }; code?: string }
	return `${error?.name ?? String(reason)} ${error?.response?.status ?? error?.code ?? ''}`.trim()
}

function tally(results: PromiseSettledResult<unknown>[]): Pick<BurstOutcome, 'ok' | 'failed' | 'errors'> {
	const errors = new Set<string>()
	let failed = 0
	for (const result of results) {
		if (result.status === 'fulfilled') continue
		failed++
		if (errors.size < 5) errors.add(describe(result.reason))
	}
	return { ok: results.length - failed, failed, errors: [...errors] }
}

/**
 * When the first 401 of this tab arrived, from Resource Timing (responseStatus, Chromium 109+):
 * an interceptor of our own would run after the library's and never see the 401.
 */
function first401Since(firedAt: number): number | null {
	let first: number | null = null
	for (const entry of performance.getEntriesByType('resource') as PerformanceResourceTiming[]) {
		if (!entry.name.includes(API_PATH) || entry.responseStatus !== 401) continue
		const end = performance.timeOrigin + entry.responseEnd
		if (end >= firedAt && (first === null || end < first)) first = end
	}
	return first
}

/** Fires `count` requests at once at `startAt` (epoch ms) and waits for all of them. */
export async function burst(global: string, startAt: number, count: number): Promise<BurstOutcome> {
	const api = apiOf(global)
	performance.clearResourceTimings()
	performance.setResourceTimingBufferSize(100_000)
	await waitUntil(startAt)
	takeBrokerMessages()
	const firedAt = epochNow()
	const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => api.get(`${API_PATH}?tab=${TAB}&r=${i}`)))
	const settledAt = epochNow()
	return { firedAt, settledAt, first401At: first401Since(firedAt), ...tally(results), brokerMessages: takeBrokerMessages() }
}

/** Steady traffic: one request every intervalMs for durationMs, as an app in use makes them. */
export async function steady(global: string, startAt: number, intervalMs: number, durationMs: number): Promise<Pick<BurstOutcome, 'ok' | 'failed' | 'errors'>> {
	const api = apiOf(global)
	const pending: Promise<unknown>[] = []
	for (let at = startAt; at < startAt + durationMs; at += intervalMs) {
		await waitUntil(at)
		pending.push(api.get(API_PATH))
	}
	return tally(await Promise.allSettled(pending))
}

export interface RoundTrips {
	/** Per message, ms; performance.now() is coarsened (100 µs without cross-origin isolation). */
	samples: number[]
	/** Total for all samples, ms: the mean from it is not limited by the timer's resolution. */
	totalMs: number
}

/** Generous: a hello answers in about a millisecond; this only keeps a stuck worker from hanging the bench. */
const HELLO_TIMEOUT_MS = 5_000

/**
 * Page↔worker round trips through the library's own transport (connectServiceWorker, bundled
 * here from src/ as the demo bundles it): a protocol `hello`, which the broker answers without
 * side effects, over the same wire steps and time limit as every request a tab makes.
 */
export async function roundTrips(count: number, warmup: number): Promise<RoundTrips> {
	const connection = connectServiceWorker(navigator.serviceWorker, await navigator.serviceWorker.ready)
	try {
		const once = () => connection.request({ type: 'hello' }, HELLO_TIMEOUT_MS)
		for (let i = 0; i < warmup; i++) await once()
		const samples: number[] = []
		const started = performance.now()
		for (let i = 0; i < count; i++) {
			const t0 = performance.now()
			await once()
			samples.push(performance.now() - t0)
		}
		return { samples, totalMs: performance.now() - started }
	} finally {
		connection.close()
	}
}
