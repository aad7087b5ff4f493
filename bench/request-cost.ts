/**
 * What the library adds to a request that already has a valid token (the common case), with
 * answers that come at once, so only the client-side pipeline is measured: bare axios vs this
 * library's interceptors vs axios-auth-refresh, each on an axios instance whose adapter answers
 * at once; and bare fetch vs client.fetch, over a global fetch that answers at once.
 */
import axios, { type AxiosAdapter, type AxiosInstance } from 'axios'
import { createAuthRefresh } from 'axios-auth-refresh'
import { Bench } from 'tinybench'
import { mkdir } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import type { TokenClient } from '../src/create-token-client.js'
import type { BrokerConnection } from '../src/transports/connection.js'
import type { TokenSnapshot } from '../src/core/protocol.js'
import type * as Shipped from './request-cost-subject.js'

/** axios-auth-refresh's types see axios through its CommonJS typings, ours through the ESM ones: same object, two type identities. */
const asRefreshTarget = (instance: unknown) => instance as Parameters<typeof createAuthRefresh>[0]

export interface RequestCostResult {
	name: string
	/** The bare contender this one is measured against: 'bare axios' or 'bare fetch'. */
	baseline: string
	requestsPerSecond: number
	microsPerRequest: number
	/** Cost per request relative to its baseline (1.00 = no overhead). */
	costVsBare: number
}

const URL_PATH = '/api/data'
const BASE = 'http://localhost/'
/** Absolute: Node's Request has no page to resolve a relative URL against. */
const FETCH_URL = new URL(URL_PATH, BASE).href
/** Requests per task call: amortises the per-sample timer reads so they do not flatten the ratios. */
const BATCH = 100
/** Many short rounds rather than a few long ones: a load spike then spoils one round, not a whole task. */
const ROUNDS = 7

/**
 * The fetch both fetch contenders call. It reads its input as every fetch does first (into a
 * Request), so the bare contender is not an empty call; and it keeps the last Authorization sent.
 */
let sentAuthorization: string | null = null
const instantFetch: typeof fetch = async (input, init) => {
	sentAuthorization = new Request(input, init).headers.get('Authorization')
	return new Response(null, { status: 200 })
}

const instantAdapter: AxiosAdapter = (config) => Promise.resolve({ data: null, status: 200, statusText: 'OK', headers: {}, config, request: {} })

/** A broker that is never asked anything but the first hello: the token stays valid for an hour. */
function fakeConnection(): BrokerConnection {
	const now = Date.now()
	const snapshot: TokenSnapshot = { accessToken: 't', expiresAt: now + 3_600_000, issuedAt: now, generation: 1 }
	return {
		request: async (message) => {
			if (message.type !== 'hello') throw new Error(`the bench broker was asked for ${message.type}`)
			return snapshot
		},
		onBroadcast: () => () => undefined,
		close: () => undefined,
	}
}

function bareAxios(): AxiosInstance {
	return axios.create({ adapter: instantAdapter })
}

const root = fileURLToPath(new URL('..', import.meta.url))

/**
 * The library as apps ship it: bundled and minified by esbuild, axios left out. Not the sources
 * as tsx runs them: tsx keeps function names, wrapping every closure the library makes per
 * request in a defineProperty call that no app pays (6–8% of a request in a profile).
 */
async function shippedLibrary(): Promise<typeof Shipped> {
	const outDir = `${root}node_modules/.cache/sw-token-broker-bench`
	await mkdir(outDir, { recursive: true })
	const outfile = `${outDir}/request-cost-subject.mjs`
	await build({
		absWorkingDir: root,
		entryPoints: ['bench/request-cost-subject.ts'],
		bundle: true,
		minify: true,
		format: 'esm',
		platform: 'node',
		target: 'es2022',
		external: ['axios'],
		outfile,
		logLevel: 'error',
	})
	return (await import(`${pathToFileURL(outfile).href}?t=${Date.now()}`)) as typeof Shipped
}

/** The library's client over a fake broker, and an axios instance it is attached to. */
async function withLibrary(): Promise<{ client: TokenClient; instance: AxiosInstance }> {
	const { attachAxios, clientOver, tabSession } = await shippedLibrary()
	const instance = bareAxios()
	const session = tabSession(fakeConnection(), { onLogout() {} })
	// The first hello must have settled, else every request waits on it.
	await session.getAccessToken()
	// Relative URLs count from the page, as in a browser: without a location none would be authorized.
	Object.assign(globalThis, { location: new URL(BASE) })
	const client = clientOver(session, Promise.resolve('service-worker'), { authorize: (url) => url.origin === 'http://localhost', keepAliveMs: false })
	attachAxios(client, instance)
	return { client, instance }
}

/** axios-auth-refresh as its README shows it: a refresh interceptor plus a request interceptor adding the header. */
function withAxiosAuthRefresh(): AxiosInstance {
	const instance = bareAxios()
	let token = 't'
	createAuthRefresh(asRefreshTarget(instance), async () => {
		token = 'refreshed'
	})
	instance.interceptors.request.use((request) => {
		request.headers.Authorization = `Bearer ${token}`
		return request
	})
	return instance
}

function median(values: number[]): number {
	const sorted = [...values].sort((a, b) => a - b)
	const middle = sorted.length >> 1
	return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** Contenders by name, each one request per call; measured against the bare one named first in its group. */
type Contenders = Record<string, () => Promise<unknown>>

/** Per-request milliseconds of each contender, one value per round; every round runs every contender. */
async function measure(contenders: Contenders, log: (line: string) => void): Promise<Record<string, number[]>> {
	const names = Object.keys(contenders)
	const perRequestMs: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]))
	// Several short rounds, each running every contender, so drift (JIT, GC, CPU frequency) hits all alike.
	for (let round = 0; round < ROUNDS; round++) {
		const bench = new Bench({ time: 250, warmupTime: 100, iterations: 20 })
		for (const name of names) {
			const send = contenders[name]!
			bench.add(name, async () => {
				for (let i = 0; i < BATCH; i++) await send()
			})
		}
		await bench.run()
		for (const task of bench.tasks) {
			const result = task.result
			if (result.state !== 'completed') throw new Error(`request-cost task ${task.name} ended ${result.state}`)
			perRequestMs[task.name]!.push(result.latency.p50 / BATCH)
		}
		log(`  request cost round ${round + 1}/${ROUNDS}: ${names.map((name) => `${name} ${(perRequestMs[name]!.at(-1)! * 1000).toFixed(2)} µs`).join(', ')}`)
	}
	return perRequestMs
}

function results(perRequestMs: Record<string, number[]>): RequestCostResult[] {
	const names = Object.keys(perRequestMs)
	const baseline = names[0]!
	const bare = perRequestMs[baseline]!
	return names.map((name) => {
		const ms = median(perRequestMs[name]!)
		// The ratio is taken within each round, where both ran under the same machine load.
		const costVsBare = median(perRequestMs[name]!.map((value, round) => value / bare[round]!))
		return { name, baseline, requestsPerSecond: 1000 / ms, microsPerRequest: ms * 1000, costVsBare }
	})
}

export async function runRequestCost(log: (line: string) => void = () => undefined): Promise<RequestCostResult[]> {
	const library = await withLibrary()
	const instances: Record<string, AxiosInstance> = {
		'bare axios': bareAxios(),
		'sw-token-broker': library.instance,
		'axios-auth-refresh': withAxiosAuthRefresh(),
	}
	// The header must really be sent, else the bench measures a path that skips the work.
	for (const name of Object.keys(instances).slice(1)) {
		const response = await instances[name]!.get(URL_PATH)
		if (response.config.headers.Authorization !== 'Bearer t') throw new Error(`${name} sent no bearer token`)
	}
	const axiosCost = results(await measure(Object.fromEntries(Object.entries(instances).map(([name, instance]) => [name, () => instance.get(URL_PATH)])), log))

	const realFetch = globalThis.fetch
	globalThis.fetch = instantFetch
	try {
		await library.client.fetch(FETCH_URL)
		if (sentAuthorization !== 'Bearer t') throw new Error('client.fetch sent no bearer token')
		const fetchCost = results(
			await measure(
				{
					'bare fetch': () => fetch(FETCH_URL),
					'sw-token-broker client.fetch': () => library.client.fetch(FETCH_URL),
				},
				log,
			),
		)
		return [...axiosCost, ...fetchCost]
	} finally {
		globalThis.fetch = realFetch
	}
}
