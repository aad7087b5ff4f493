import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ApolloClient, HttpLink, InMemoryCache, type TypedDocumentNode, gql } from '@apollo/client'
import { Client as UrqlClient, fetchExchange } from '@urql/core'
import { afterEach, describe, expect, it } from 'vitest'
import { clientOver } from '../../src/create-token-client.js'
import type { IsUnauthorized } from '../../src/adapters/fetch.js'
import { tabSession } from '../../src/session/tab-session.js'
import { flush } from '../core/helpers.js'
import { FakeWorld } from './fake-world.js'

/**
 * A GraphQL endpoint on 127.0.0.1 that, like Apollo Server and Hasura, reports an expired token
 * inside a 200: `errors[].extensions.code === 'UNAUTHENTICATED'`.
 */
async function graphqlServer(world: FakeWorld) {
	const seen: { authorization: string | undefined; accepted: boolean }[] = []
	const server: Server = createServer((request, response) => {
		let body = ''
		request.on('data', (chunk: Buffer) => (body += chunk.toString()))
		request.on('end', () => {
			// urql sends queries as GET (variables in the query string), Apollo as POST.
			const query = new URL(request.url!, 'http://127.0.0.1').searchParams.get('variables')
			const { variables } = (query === null ? JSON.parse(body) : { variables: JSON.parse(query) }) as { variables?: { n?: number } }
			const authorization = request.headers.authorization
			const accepted = world.validToken !== null && authorization === `Bearer ${world.validToken}`
			seen.push({ authorization, accepted })
			response.writeHead(200, { 'content-type': 'application/graphql-response+json' })
			response.end(
				JSON.stringify(
					accepted
						? { data: { item: { __typename: 'Item', id: String(variables?.n ?? 0), n: variables?.n ?? 0 } } }
						: { data: null, errors: [{ message: 'Context creation failed: token expired', extensions: { code: 'UNAUTHENTICATED' } }] },
				),
			)
		})
	})
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
	servers.push(server)
	return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`, seen }
}

const servers: Server[] = []
const closers: (() => void)[] = []

afterEach(async () => {
	for (const close of closers.splice(0)) close()
	await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))))
})

/** The predicate an app writes for GraphQL servers that answer an expired token with a 200. */
const unauthenticated: IsUnauthorized = async (response) => {
	const body = (await response.json()) as { errors?: { extensions?: { code?: string } }[] }
	return body.errors?.some((error) => error.extensions?.code === 'UNAUTHENTICATED') ?? false
}

/** `count` tabs of one world, each a client whose fetch carries the broker's token to the endpoint's origin. */
async function tabs(world: FakeWorld, endpoint: string, count: number, { isUnauthorized }: { isUnauthorized?: IsUnauthorized } = { isUnauthorized: unauthenticated }) {
	const origin = new URL(endpoint).origin
	const clients = Array.from({ length: count }, () => {
		const session = tabSession(world.connect(), { onLogout: () => undefined, now: () => world.clock.now })
		const client = clientOver(session, Promise.resolve('service-worker'), { authorize: (url) => url.origin === origin, keepAliveMs: false, isUnauthorized })
		closers.push(client.close)
		return client
	})
	await clients[0]!.login(world.issue())
	await flush()
	return clients
}

const ITEM = gql`
	query Item($n: Int!) {
		item(n: $n) {
			id
			n
		}
	}
` as TypedDocumentNode<{ item: { id: string; n: number } }, { n: number }>

function apollo(endpoint: string, fetch: typeof globalThis.fetch) {
	return new ApolloClient({ link: new HttpLink({ uri: endpoint, fetch }), cache: new InMemoryCache() })
}

function urql(endpoint: string, fetch: typeof globalThis.fetch) {
	return new UrqlClient({ url: endpoint, exchanges: [fetchExchange], fetch, requestPolicy: 'network-only' })
}

describe('isUnauthorized: a 200 that reports an expired token counts as a 401', () => {
	it('Apollo Client over HttpLink({ fetch: client.fetch }): 3 tabs × 10 queries after the token expired get their data with 1 refresh', async () => {
		const world = new FakeWorld()
		const { url, seen } = await graphqlServer(world)
		const clients = await tabs(world, url, 3)
		world.validToken = 'rotated-by-the-server'
		const results = await Promise.all(
			clients.flatMap((client, tab) => {
				const app = apollo(url, client.fetch)
				return Array.from({ length: 10 }, (_, index) => app.query({ query: ITEM, variables: { n: tab * 10 + index }, fetchPolicy: 'network-only' }))
			}),
		)
		expect(results.map((result) => result.data?.item.n)).toEqual(Array.from({ length: 30 }, (_, n) => n))
		expect(world.refreshCalls).toHaveLength(1)
		expect(seen.filter((call) => call.accepted)).toHaveLength(30)
	})

	it('urql over fetchExchange with fetch: client.fetch: 3 tabs × 10 queries after the token expired get their data with 1 refresh', async () => {
		const world = new FakeWorld()
		const { url, seen } = await graphqlServer(world)
		const clients = await tabs(world, url, 3)
		world.validToken = 'rotated-by-the-server'
		const results = await Promise.all(
			clients.flatMap((client, tab) => {
				const app = urql(url, client.fetch)
				return Array.from({ length: 10 }, (_, index) => app.query(ITEM, { n: tab * 10 + index }).toPromise())
			}),
		)
		for (const result of results) expect(result.error).toBeUndefined()
		expect(results.map((result) => result.data?.item.n)).toEqual(Array.from({ length: 30 }, (_, n) => n))
		expect(world.refreshCalls).toHaveLength(1)
		expect(seen.filter((call) => call.accepted)).toHaveLength(30)
	})

	it('without isUnauthorized the 200 goes to Apollo as it came: its UNAUTHENTICATED error, no refresh', async () => {
		const world = new FakeWorld()
		const { url } = await graphqlServer(world)
		const [client] = await tabs(world, url, 1, {})
		world.validToken = 'rotated-by-the-server'
		const result = await apollo(url, client!.fetch).query({ query: ITEM, variables: { n: 1 }, errorPolicy: 'all' })
		expect(result.error?.message).toContain('token expired')
		expect(world.refreshCalls).toHaveLength(0)
	})

	it('a retry that reports UNAUTHENTICATED again reaches urql as its error, readable, after 1 refresh and 2 sends', async () => {
		const world = new FakeWorld()
		const { url, seen } = await graphqlServer(world)
		const [client] = await tabs(world, url, 1)
		world.validToken = 'rotated-by-the-server'
		// The refresh succeeds, but the endpoint still refuses the new token.
		world.refreshBehaviour = async () => ({ accessToken: 'not-accepted-either' })
		const result = await urql(url, client!.fetch).query(ITEM, { n: 1 }).toPromise()
		expect(result.error?.graphQLErrors.map((error) => error.extensions.code)).toEqual(['UNAUTHENTICATED'])
		expect(world.refreshCalls).toHaveLength(1)
		expect(seen).toHaveLength(2)
	})

	it('the predicate reads a clone: an answer it says false for keeps a readable body, and one it throws on goes to the caller as it came', async () => {
		const world = new FakeWorld()
		const { url } = await graphqlServer(world)
		const [reads, throws] = [await tabs(world, url, 1), await tabs(world, url, 1, { isUnauthorized: () => Promise.reject(new Error('not JSON')) })].map(([client]) => client!)
		const query = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ item { n } }', variables: { n: 7 } }) }
		expect(await (await reads!.fetch(url, query)).json()).toMatchObject({ data: { item: { n: 7 } } })
		world.validToken = 'rotated-by-the-server'
		const refused = await throws!.fetch(url, query)
		expect(refused.status).toBe(200)
		expect(await refused.json()).toMatchObject({ errors: [{ extensions: { code: 'UNAUTHENTICATED' } }] })
		expect(world.refreshCalls).toHaveLength(0)
	})
})
