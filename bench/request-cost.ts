/**
 * What the library adds to a request that already has a valid token (the common case):
 * bare axios vs this library's interceptors vs axios-auth-refresh, each on an axios instance
 * whose adapter answers at once, so only the client-side pipeline is measured.
 */
import axios, { type AxiosAdapter, type AxiosInstance } from 'axios'
import { createAuthRefresh } from 'axios-auth-refresh'
import { Bench } from 'tinybench'
import { attachAxios } from '../src/adapters/axios.js'
import { clientOver } from '../src/create-token-client.js'
import type { BrokerConnection } from '../src/transports/connection.js'
import type { TokenSnapshot } from '../src/core/protocol.js'
import { TabSession } from '../src/session/tab-session.js'

/** axios-auth-refresh's types see axios through its CommonJS typings, ours through the ESM ones: same object, two type identities. */
const asRefreshTarget = (instance: unknown) => instance as Parameters<typeof createAuthRefresh>[0]

export interface RequestCostResult {
	name: string
	requestsPerSecond: number
	microsPerRequest: number
	/** Cost per request relative to bare axios (1.00 = no overhead). */
	costVsBare: number
}

const URL_PATH = '/api/data'
const BASE = 'http://localhost/'
/** Requests per task call: amortises the per-sample timer reads so they do not flatten the ratios. */
const BATCH = 100
/** Many short rounds rather than a few long ones: a load spike then spoils one round, not a whole task. */
const ROUNDS = 7

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

async function withLibrary(): Promise<AxiosInstance> {
	const instance = bareAxios()
	const session = new TabSession(fakeConnection(), { onLogout() {} })
	// The first hello must have settled, else every request waits on it.
	await session.getAccessToken()
	attachAxios(clientOver(session, Promise.resolve('service-worker'), { authorize: (url) => url.origin === 'http://localhost', keepAliveMs: false }), instance)
	return instance
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

export async function runRequestCost(log: (line: string) => void = () => undefined): Promise<RequestCostResult[]> {
	const instances: Record<string, AxiosInstance> = {
		'bare axios': bareAxios(),
		'sw-token-broker': await withLibrary(),
		'axios-auth-refresh': withAxiosAuthRefresh(),
	}
	const names = Object.keys(instances)
	// The header must really be sent, else the bench measures a path that skips the work.
	for (const name of names.slice(1)) {
		const response = await instances[name]!.get(URL_PATH)
		if (response.config.headers.Authorization !== 'Bearer t') throw new Error(`${name} sent no bearer token`)
	}

	const perRequestMs: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]))
	// Several short rounds, each running every contender, so drift (JIT, GC, CPU frequency) hits all alike.
	for (let round = 0; round < ROUNDS; round++) {
		const bench = new Bench({ time: 250, warmupTime: 100, iterations: 20 })
		for (const name of names) {
			const instance = instances[name]!
			bench.add(name, async () => {
				for (let i = 0; i < BATCH; i++) await instance.get(URL_PATH)
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

	const bare = perRequestMs['bare axios']!
	return names.map((name) => {
		const ms = median(perRequestMs[name]!)
		// The ratio is taken within each round, where both ran under the same machine load.
		const costVsBare = median(perRequestMs[name]!.map((value, round) => value / bare[round]!))
		return { name, requestsPerSecond: 1000 / ms, microsPerRequest: ms * 1000, costVsBare }
	})
}
