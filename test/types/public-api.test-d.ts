/**
 * Type-level tests of the public API, checked by `npm run typecheck` (tsc over test/): a change
 * that breaks what apps write against these types fails the type-check. They import the
 * package's own names (tsconfig paths), as an app does. Unions are checked member by member,
 * never as a closed list: a new event type is not a breaking change (listeners switch on `type`).
 */
import axios, { type AxiosResponse } from 'axios'
import ky from 'ky'
import createClient from 'openapi-fetch'
import { describe, expectTypeOf, it } from 'vitest'
import {
	type BrokerEvent,
	type ClientState,
	createTokenClient,
	LoggedOutError,
	type LogoutReason,
	oauth2Refresh,
	type RefreshFunction,
	RefreshUnavailableError,
	type TokenBrokerError,
	type TokenClient,
	type TokenClientEvent,
	type TokenClientOptions,
	type TokenEvent,
} from 'sw-token-broker'
import { attachAxios } from 'sw-token-broker/axios'
import { cookieRefresh, createTokenBroker, type TokenBrokerOptions } from 'sw-token-broker/sw'

type Member<Union, Type extends string> = Extract<Union, { type: Type }>

describe('event unions', () => {
	it("subscribe's events carry what their type says", () => {
		expectTypeOf<Member<TokenEvent, 'token'>>().toEqualTypeOf<{ type: 'token'; accessToken: string; expiresAt?: number }>()
		expectTypeOf<Member<TokenEvent, 'logout'>['reason']>().toEqualTypeOf<LogoutReason>()
		expectTypeOf<Member<TokenEvent, 'state'>['state']>().toEqualTypeOf<ClientState>()
		expectTypeOf<ClientState['status']>().toEqualTypeOf<'connecting' | 'signed-in' | 'signed-out'>()
	})

	it('a switch on type narrows, so a listener reads each event without casts', () => {
		const listener = (event: TokenEvent) => {
			if (event.type === 'token') expectTypeOf(event.accessToken).toBeString()
			if (event.type === 'logout') expectTypeOf(event.reason).toEqualTypeOf<LogoutReason>()
		}
		expectTypeOf(listener).toMatchTypeOf<Parameters<TokenClient['subscribe']>[0]>()
	})

	it("onEvent gets the tab's events and the broker's", () => {
		expectTypeOf<Member<TokenClientEvent, 'connected'>['host']>().toEqualTypeOf<'service-worker' | 'in-page' | 'none'>()
		expectTypeOf<Member<TokenClientEvent, 'refresh-wait'>>().toMatchTypeOf<{ outcome: string; durationMs: number }>()
		expectTypeOf<Member<TokenClientEvent, 'session-ended'>['reason']>().toEqualTypeOf<LogoutReason>()
		expectTypeOf<BrokerEvent>().toMatchTypeOf<TokenClientEvent>()
		expectTypeOf<Member<BrokerEvent, 'refresh-end'>['outcome']>().toEqualTypeOf<'refreshed' | 'unavailable' | 'logged-out'>()
		expectTypeOf<Member<BrokerEvent, 'backoff'>>().toMatchTypeOf<{ retryAt: number; delayMs: number; failures: number }>()
		expectTypeOf<Member<BrokerEvent, 'recovered'>['from']>().toEqualTypeOf<'storage' | 'peer' | 'seed'>()
	})
})

describe('options', () => {
	it('every page option is optional, and createTokenClient needs none', () => {
		expectTypeOf<Record<never, never>>().toMatchTypeOf<TokenClientOptions>()
		expectTypeOf(createTokenClient).parameter(0).toEqualTypeOf<TokenClientOptions | undefined>()
		expectTypeOf(createTokenClient).returns.toEqualTypeOf<TokenClient>()
		expectTypeOf<false>().toMatchTypeOf<TokenClientOptions['keepAliveMs']>()
		expectTypeOf<TokenClientOptions['onLogout']>().toEqualTypeOf<((reason: LogoutReason) => void) | undefined>()
		expectTypeOf<TokenClientOptions['authorize']>().toEqualTypeOf<((url: URL) => boolean) | undefined>()
	})

	it('the worker needs a refresh and nothing else', () => {
		expectTypeOf<Record<never, never>>().not.toMatchTypeOf<TokenBrokerOptions>()
		expectTypeOf<{ refresh: RefreshFunction }>().toMatchTypeOf<TokenBrokerOptions>()
		expectTypeOf<TokenBrokerOptions['persist']>().toEqualTypeOf<'memory' | 'indexeddb' | undefined>()
		expectTypeOf(createTokenBroker).parameter(0).toEqualTypeOf<TokenBrokerOptions>()
	})

	it('the presets are refresh functions, usable on either side', () => {
		expectTypeOf(oauth2Refresh({ tokenEndpoint: '/oauth/token', clientId: 'app' })).toEqualTypeOf<RefreshFunction>()
		expectTypeOf(cookieRefresh({ url: '/auth/refresh' })).toEqualTypeOf<RefreshFunction>()
		// A public client's id goes with every refresh: leaving it out is a type error, not a 400 at runtime.
		expectTypeOf<{ tokenEndpoint: string }>().not.toMatchTypeOf<Parameters<typeof oauth2Refresh>[0]>()
	})

	it('errors expose the fields apps branch on', () => {
		expectTypeOf<LoggedOutError['reason']>().toEqualTypeOf<LogoutReason>()
		expectTypeOf<RefreshUnavailableError['retryAt']>().toEqualTypeOf<number | undefined>()
		expectTypeOf<LoggedOutError>().toMatchTypeOf<TokenBrokerError>()
		expectTypeOf<RefreshUnavailableError>().toMatchTypeOf<Error>()
	})
})

describe("adapters keep their clients' generics", () => {
	const client = createTokenClient()
	interface Order {
		id: string
	}

	it("axios: attachAxios leaves the instance's typed responses as they were", () => {
		const api = axios.create()
		expectTypeOf(attachAxios(client, api)).toEqualTypeOf<() => void>()
		expectTypeOf(api.get<Order>('/orders/1')).resolves.toEqualTypeOf<AxiosResponse<Order>>()
	})

	it('client.fetch is a fetch: ky and openapi-fetch take it, and their generics still type the data', () => {
		expectTypeOf(client.fetch).toMatchTypeOf<(input: RequestInfo | URL, init?: RequestInit) => Promise<Response>>()
		const kyApi = ky.create({ fetch: client.fetch })
		expectTypeOf(kyApi.get('orders/1').json<Order>()).resolves.toEqualTypeOf<Order>()
		interface Paths {
			'/orders/{id}': { get: { parameters: { path: { id: string } }; responses: { 200: { content: { 'application/json': Order } } } } }
		}
		const typed = createClient<Paths>({ fetch: client.fetch })
		expectTypeOf(typed.GET).toBeFunction()
	})
})
