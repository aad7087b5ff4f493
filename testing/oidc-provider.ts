import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingMessage, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Page } from '@playwright/test'
import type { KoaContext, Provider } from 'oidc-provider'

/** Options of {@link startOidcProvider}. */
export interface OidcProviderOptions {
	/** Default 0: a free port. The provider listens on 127.0.0.1 only. */
	port?: number
	/** Access-token lifetime, default 60_000. The provider counts in whole seconds, so it is rounded up (at least 1 s). */
	accessTtlMs?: number
	/** The public client's id; default 'app'. */
	clientId?: string
	/**
	 * Where the provider may send the authorization code back. The issuer is only known once the
	 * provider listens, so a function of it is accepted (the demo carries the issuer in its URL).
	 */
	redirectUris: string[] | ((issuer: string) => string[])
	/** Where RP-initiated logout may send the browser back (post_logout_redirect_uri); default none. */
	postLogoutRedirectUris?: string[] | ((issuer: string) => string[])
	/** Origins whose scripts and workers may call the token and revocation endpoints; default: the redirect URIs' origins. */
	corsOrigins?: string[]
	/** The sign-in page's only account; default { username: 'demo', password: 'demo' }. */
	account?: { username: string; password: string }
	/**
	 * Sender-constrained tokens (RFC 9449, oidc-provider's features.dPoP): the public client must
	 * send DPoP proofs, and every token is bound to the proof's key. `requireNonce`: every proof
	 * must carry the provider's nonce (DPoP-Nonce), so each client pays one extra trip.
	 */
	dpop?: boolean
	requireNonce?: boolean
}

/** Counts of one grant (one sign-in and its refresh tokens). */
export interface OidcGrantStats {
	/** Refresh-token grants that returned tokens. */
	refreshes: number
	/** Refresh tokens presented a second time: each one revoked the whole grant. */
	reuseDetections: number
	/** Ends of the grant through the revocation endpoint or revokeGrants(). */
	revocations: number
}

/** What the provider counted, in total and per grant. */
export interface OidcProviderStats {
	/** Every token-endpoint request with grant_type=refresh_token, whatever its outcome. */
	refreshCalls: number
	refreshSuccesses: number
	reuseDetections: number
	revocations: number
	/** Authorization codes exchanged for tokens. */
	signIns: number
	/** Token-endpoint requests with grant_type=authorization_code, whatever their outcome. */
	codeExchanges: number
	/** RP-initiated logouts the user confirmed at the end-session endpoint. */
	endSessions: number
	/** Per grant (one per sign-in), by grant id. */
	grants: Record<string, OidcGrantStats>
}

/** An authorization code got with PKCE and no browser UI, and the `exchange()` request that redeems it. */
export interface HeadlessSignIn {
	code: string
	codeVerifier: string
	redirectUri: string
	clientId: string
	/** Ready for `client.exchange(…)`: the broker redeems the code, so the refresh token never enters page script. */
	exchange: { url: string; body: Record<string, string> }
}

/** A running oidc-provider, from {@link startOidcProvider}. */
export interface OidcProvider {
	issuer: string
	authorizationEndpoint: string
	tokenEndpoint: string
	revocationEndpoint: string
	endSessionEndpoint: string
	clientId: string
	/** The authorization-code + PKCE flow through the provider's sign-in page, driven over HTTP without a browser. */
	signIn(options?: { scope?: string; redirectUri?: string }): Promise<HeadlessSignIn>
	/**
	 * How an API checks a bearer token: RFC 7662 introspection at the provider, as a resource
	 * server with its own credentials. Access tokens are opaque, so a revoked grant's tokens are
	 * refused at once, as the dev server's are.
	 */
	verifyAccessToken(token: string): Promise<{ sub: string; jkt?: string } | undefined>
	/** Deletes every access token issued so far: the API refuses them (401); refresh tokens stay valid. */
	expireAccessTokens(): void
	/** Revokes every grant, as an administrator would: its refresh tokens get invalid_grant. */
	revokeGrants(): void
	/** Every refresh token the provider issued, oldest first. */
	issuedRefreshTokens(): string[]
	/** Every PKCE code verifier presented at the token endpoint, oldest first: a test checks none reached page script. */
	presentedCodeVerifiers(): string[]
	/** Holds every token-endpoint answer back this long (default 0), so concurrent requests overlap a refresh. */
	setTokenEndpointDelay(ms: number): void
	/** What the provider counted since it started or since `resetStats()`. */
	stats(): OidcProviderStats
	/** Starts the counts of `stats()` over. */
	resetStats(): void
	/** Stops the provider and frees its port. */
	close(): Promise<void>
}

const DEFAULT_ACCESS_TTL_MS = 60_000
const DEFAULT_ACCOUNT = { username: 'demo', password: 'demo' }
const HOST = '127.0.0.1'
const RESOURCE_SERVER_ID = 'api'
const MAX_SIGN_IN_REDIRECTS = 10
const GRANT_MODELS = ['AccessToken', 'AuthorizationCode', 'RefreshToken']
const SESSION_TTL_SECONDS = 14 * 24 * 60 * 60

interface RotationContext {
	oidc?: { entities: { RotatedRefreshToken?: { remainingTTL: number } } }
}

const ownTokenOnly = (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) => token.clientId === client.clientId

/**
 * A real OpenID provider (panva's oidc-provider, OpenID Certified) for test suites: refresh-token
 * rotation with reuse detection, PKCE for a public client, offline_access, revocation and
 * introspection. oidc-provider is an optional peer dependency, loaded here and only here.
 */
export async function startOidcProvider(options: OidcProviderOptions): Promise<OidcProvider> {
	let Provider: typeof import('oidc-provider').Provider
	try {
		Provider = (await import('oidc-provider')).default
	} catch (error) {
		throw new Error('startOidcProvider needs the oidc-provider package: npm install --save-dev oidc-provider', { cause: error })
	}
	const server = createServer()
	const port = await listen(server, options.port ?? 0)
	const issuer = `http://${HOST}:${port}`
	const clientId = options.clientId ?? 'app'
	const redirectUris = typeof options.redirectUris === 'function' ? options.redirectUris(issuer) : options.redirectUris
	const postLogoutRedirectUris = typeof options.postLogoutRedirectUris === 'function' ? options.postLogoutRedirectUris(issuer) : (options.postLogoutRedirectUris ?? [])
	const corsOrigins = new Set(options.corsOrigins ?? redirectUris.map((uri) => new URL(uri).origin))
	const account = options.account ?? DEFAULT_ACCOUNT
	const accessTtlSeconds = Math.max(1, Math.ceil((options.accessTtlMs ?? DEFAULT_ACCESS_TTL_MS) / 1000))
	const resourceServerSecret = randomBytes(32).toString('base64url')
	const store = new ArtifactStore()
	const counters = new Counters()
	let tokenDelayMs = 0

	const provider = new Provider(issuer, {
		adapter: (model: string) => store.adapter(model),
		clients: [
			{
				client_id: clientId,
				token_endpoint_auth_method: 'none',
				application_type: 'web',
				redirect_uris: redirectUris,
				post_logout_redirect_uris: postLogoutRedirectUris,
				grant_types: ['authorization_code', 'refresh_token'],
				response_types: ['code'],
				...(options.dpop === true ? { dpop_bound_access_tokens: true } : {}),
			},
			{ client_id: RESOURCE_SERVER_ID, client_secret: resourceServerSecret, grant_types: [], response_types: [], redirect_uris: [] },
		],
		jwks: { keys: [generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' })] },
		cookies: { keys: [randomBytes(32).toString('base64url')] },
		findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub, name: `${sub} (oidc-provider)`, email: `${sub}@example.test`, email_verified: true }) }),
		scopes: ['openid', 'offline_access', 'profile', 'email'],
		claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
		// By default oidc-provider puts profile claims in the ID token only when no access token is
		// issued (OpenID Connect Core 5.4); Auth0, Okta and Keycloak put them there in the code flow too.
		conformIdTokenClaims: false,
		features: {
			devInteractions: { enabled: false },
			revocation: { enabled: true, allowedPolicy: ownTokenOnly },
			// Only the API (the resource server's client) may ask what a token is worth.
			introspection: { enabled: true, allowedPolicy: (_ctx: unknown, client: { clientId: string }) => client.clientId === RESOURCE_SERVER_ID },
			// RP-initiated logout asks the user to confirm, as most providers do: confirmProviderLogout() answers it.
			rpInitiatedLogout: {
				enabled: true,
				logoutSource: (ctx: KoaContext, form: string) => {
					ctx.type = 'html'
					ctx.body = logoutHtml(form)
				},
			},
			...(options.dpop === true ? { dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => options.requireNonce === true } } : {}),
		},
		interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
		// A worker's fetch sends Origin; the default allows only the redirect URIs' origins, this allows the configured ones.
		clientBasedCORS: (_ctx: unknown, origin: string) => corsOrigins.has(origin),
		ttl: {
			AccessToken: accessTtlSeconds,
			// A rotated refresh token inherits what is left of the one it replaces: the session has an
			// absolute lifetime counted from the sign-in, as oidc-provider's default gives public web clients.
			RefreshToken: (ctx: RotationContext | undefined) => ctx?.oidc?.entities.RotatedRefreshToken?.remainingTTL ?? SESSION_TTL_SECONDS,
			IdToken: 60 * 60,
			Interaction: 10 * 60,
			Session: SESSION_TTL_SECONDS,
			Grant: SESSION_TTL_SECONDS,
		},
		// The default for a public client already rotates; spelled out because rotation is what the tests are about.
		rotateRefreshToken: true,
		renderError: (ctx: KoaContext, out: Record<string, string>) => {
			ctx.type = 'text/plain'
			ctx.body = `${out.error}: ${out.error_description ?? ''}`
		},
	})
	counters.listen(provider)
	const codeVerifiers: string[] = []
	provider.use(async (ctx, next) => {
		if (ctx.method === 'POST' && ctx.path === '/token' && tokenDelayMs > 0) await sleep(tokenDelayMs)
		await next()
		const verifier = ctx.method === 'POST' && ctx.path === '/token' ? ctx.oidc?.params?.code_verifier : undefined
		if (typeof verifier === 'string') codeVerifiers.push(verifier)
	})
	provider.use(signInPage(provider, account))
	server.on('request', provider.callback())

	const revokeGrant = (grantId: string) => {
		store.revokeGrant(grantId)
		counters.revoked(grantId)
	}
	let closing: Promise<void> | undefined
	return {
		issuer,
		authorizationEndpoint: `${issuer}/auth`,
		tokenEndpoint: `${issuer}/token`,
		revocationEndpoint: `${issuer}/token/revocation`,
		endSessionEndpoint: `${issuer}/session/end`,
		clientId,
		signIn: ({ scope = 'openid offline_access', redirectUri = redirectUris[0] } = {}) => {
			if (redirectUri === undefined) throw new Error('startOidcProvider: no redirect URI to sign in with')
			return headlessSignIn({ issuer, clientId, scope, redirectUri, account })
		},
		verifyAccessToken: (token) => introspect(`${issuer}/token/introspection`, token, resourceServerSecret),
		expireAccessTokens: () => store.deleteAll('AccessToken'),
		revokeGrants: () => store.grantIds().forEach(revokeGrant),
		issuedRefreshTokens: () => store.issuedRefreshTokens(),
		presentedCodeVerifiers: () => [...codeVerifiers],
		setTokenEndpointDelay: (ms) => {
			tokenDelayMs = ms
		},
		stats: () => counters.snapshot(),
		resetStats: () => counters.reset(),
		close: () =>
			(closing ??= new Promise((resolve, reject) => {
				server.close((error) => (error ? reject(error) : resolve()))
				server.closeAllConnections()
			})),
	}
}

interface StoredArtifact {
	payload: Record<string, unknown>
	expiresAt: number
}

/**
 * oidc-provider's storage, one per provider (its own memory adapter shares one store across
 * instances and evicts past 1000 entries), with what the test API needs: every artifact by
 * model, and the refresh tokens ever issued.
 */
class ArtifactStore {
	private readonly artifacts = new Map<string, StoredArtifact>()
	private readonly grants = new Map<string, Set<string>>()
	private readonly refreshTokens: string[] = []

	adapter(model: string) {
		const key = (id: string) => `${model}:${id}`
		return {
			upsert: async (id: string, payload: Record<string, unknown>, expiresIn?: number) => {
				this.artifacts.set(key(id), { payload, expiresAt: typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity })
				const grantId = payload.grantId
				if (typeof grantId === 'string' && GRANT_MODELS.includes(model)) {
					this.grants.set(grantId, (this.grants.get(grantId) ?? new Set()).add(key(id)))
				}
				if (model === 'RefreshToken' && !this.refreshTokens.includes(id)) this.refreshTokens.push(id)
			},
			find: async (id: string) => this.live(key(id)),
			findByUid: async (uid: string) => [...this.artifacts.entries()].find(([k, { payload }]) => k.startsWith(`${model}:`) && payload.uid === uid && this.live(k))?.[1].payload,
			findByUserCode: async () => undefined,
			consume: async (id: string) => {
				const artifact = this.artifacts.get(key(id))
				if (artifact) artifact.payload.consumed = Math.floor(Date.now() / 1000)
			},
			destroy: async (id: string) => {
				this.artifacts.delete(key(id))
			},
			revokeByGrantId: async (grantId: string) => {
				for (const k of this.grants.get(grantId) ?? []) if (k.startsWith(`${model}:`)) this.artifacts.delete(k)
			},
		}
	}

	revokeGrant(grantId: string): void {
		for (const k of this.grants.get(grantId) ?? []) this.artifacts.delete(k)
		this.artifacts.delete(`Grant:${grantId}`)
		this.grants.delete(grantId)
	}

	grantIds(): string[] {
		return [...this.artifacts.keys()].filter((k) => k.startsWith('Grant:') && this.live(k)).map((k) => k.slice('Grant:'.length))
	}

	deleteAll(model: string): void {
		for (const k of this.artifacts.keys()) if (k.startsWith(`${model}:`)) this.artifacts.delete(k)
	}

	issuedRefreshTokens(): string[] {
		return [...this.refreshTokens]
	}

	private live(key: string): Record<string, unknown> | undefined {
		const artifact = this.artifacts.get(key)
		if (artifact === undefined) return undefined
		if (artifact.expiresAt > Date.now()) return artifact.payload
		this.artifacts.delete(key)
		return undefined
	}
}

class Counters {
	private totals = { refreshCalls: 0, refreshSuccesses: 0, reuseDetections: 0, revocations: 0, signIns: 0, codeExchanges: 0, endSessions: 0 }
	private grants = new Map<string, OidcGrantStats>()

	listen(provider: Provider): void {
		provider.on('grant.success', (ctx) => {
			const grantType = ctx.oidc?.params?.grant_type
			if (grantType === 'authorization_code') {
				this.totals.signIns++
				this.totals.codeExchanges++
			}
			if (grantType !== 'refresh_token') return
			this.totals.refreshCalls++
			this.totals.refreshSuccesses++
			const grantId = ctx.oidc?.entities.RefreshToken?.grantId
			if (grantId !== undefined) this.grant(grantId).refreshes++
		})
		provider.on('grant.error', (ctx) => {
			if (ctx.oidc?.params?.grant_type === 'refresh_token') this.totals.refreshCalls++
			if (ctx.oidc?.params?.grant_type === 'authorization_code') this.totals.codeExchanges++
		})
		provider.on('end_session.success', () => {
			this.totals.endSessions++
		})
		// The token endpoint revokes a grant only when a consumed refresh token comes back.
		provider.on('grant.revoked', (ctx, grantId) => {
			if (ctx.oidc?.route === 'token') {
				this.totals.reuseDetections++
				this.grant(grantId).reuseDetections++
			} else {
				this.revoked(grantId)
			}
		})
	}

	revoked(grantId: string): void {
		this.totals.revocations++
		this.grant(grantId).revocations++
	}

	snapshot(): OidcProviderStats {
		return { ...this.totals, grants: Object.fromEntries([...this.grants].map(([id, stats]) => [id, { ...stats }])) }
	}

	reset(): void {
		this.totals = { refreshCalls: 0, refreshSuccesses: 0, reuseDetections: 0, revocations: 0, signIns: 0, codeExchanges: 0, endSessions: 0 }
		this.grants = new Map()
	}

	private grant(grantId: string): OidcGrantStats {
		let stats = this.grants.get(grantId)
		if (stats === undefined) this.grants.set(grantId, (stats = { refreshes: 0, reuseDetections: 0, revocations: 0 }))
		return stats
	}
}

/**
 * The provider's sign-in page: one account, a password form. Consent is given without asking,
 * as a first-party app's is, but still through the provider's consent prompt, which is what
 * makes it issue a refresh token for offline_access.
 */
function signInPage(provider: Provider, account: { username: string; password: string }) {
	return async (ctx: KoaContext, next: () => Promise<void>): Promise<void> => {
		if (!/^\/interaction\/[\w-]+$/.test(ctx.path)) return next()
		const details = await provider.interactionDetails(ctx.req, ctx.res)
		ctx.set('Cache-Control', 'no-store')
		let result: Record<string, unknown> | undefined
		if (details.prompt.name === 'consent') {
			const accountId = details.session?.accountId
			if (accountId === undefined) throw new Error('oidc-provider asked for consent before anyone signed in')
			const grant = details.grantId === undefined ? new provider.Grant({ accountId, clientId: String(details.params.client_id) }) : await provider.Grant.find(details.grantId)
			if (grant === undefined) throw new Error('oidc-provider: the interaction names a grant that does not exist')
			grant.addOIDCScope((details.prompt.details.missingOIDCScope ?? []).join(' '))
			result = { consent: { grantId: await grant.save() } }
		} else if (ctx.method === 'POST') {
			const form = new URLSearchParams(await readText(ctx.req))
			if (form.has('cancel')) result = { error: 'access_denied', error_description: 'The user cancelled the sign-in.' }
			else if (form.get('username') === account.username && form.get('password') === account.password) {
				result = { login: { accountId: account.username } }
			}
		}
		if (result === undefined) {
			ctx.status = ctx.method === 'POST' ? 401 : 200
			ctx.type = 'html'
			ctx.body = loginHtml(ctx.path, ctx.method === 'POST')
			return
		}
		ctx.status = 303
		ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true }))
	}
}

function loginHtml(action: string, failed: boolean): string {
	return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in — OpenID provider</title>
<style>body{font:16px system-ui,sans-serif;max-width:22rem;margin:4rem auto}label,button{display:block;margin:.5rem 0}input{width:100%}</style></head>
<body><h1>OpenID provider</h1><p>oidc-provider on ${HOST}: sign in as demo / demo.</p>
<form method="post" action="${action}">
<label>User <input name="username" autocomplete="username" value="demo"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" value="demo"></label>
<button type="submit">Sign in at the provider</button>
<button type="submit" name="cancel" value="1" formnovalidate>Cancel</button>
${failed ? '<p role="alert">Wrong user or password.</p>' : ''}
</form></body></html>`
}

function logoutHtml(form: string): string {
	return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign out — OpenID provider</title></head>
<body><h1>Sign out of the OpenID provider?</h1>${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button></body></html>`
}

/**
 * Playwright: completes the provider's sign-in page (and the consent it gives without asking) in
 * `page`, which an app's signIn() sent there, and waits until the provider has sent it back.
 * `cancel`: the user cancels instead, and the provider answers error=access_denied.
 */
export async function completeProviderSignIn(page: Page, provider: Pick<OidcProvider, 'issuer'>, options: { cancel?: boolean; account?: { username: string; password: string } } = {}): Promise<void> {
	await page.waitForURL((url) => url.href.startsWith(`${provider.issuer}/interaction/`))
	if (options.cancel === true) {
		await page.getByRole('button', { name: 'Cancel' }).click()
	} else {
		const account = options.account ?? DEFAULT_ACCOUNT
		await page.getByLabel('User').fill(account.username)
		await page.getByLabel('Password').fill(account.password)
		await page.getByRole('button', { name: 'Sign in at the provider' }).click()
	}
	await page.waitForURL((url) => !url.href.startsWith(provider.issuer))
}

/** Playwright: confirms the provider's "sign out?" page that logout({ endSession: true }) led to, and waits until it sent the browser back. */
export async function confirmProviderLogout(page: Page, provider: Pick<OidcProvider, 'issuer'>): Promise<void> {
	await page.waitForURL((url) => url.href.startsWith(`${provider.issuer}/session/end`))
	await page.getByRole('button', { name: 'Yes, sign me out' }).click()
	await page.waitForURL((url) => !url.href.startsWith(provider.issuer))
}

/** Follows the authorization request through the sign-in page the way a browser would, cookies included. */
async function headlessSignIn(request: { issuer: string; clientId: string; scope: string; redirectUri: string; account: { username: string; password: string } }): Promise<HeadlessSignIn> {
	const codeVerifier = randomBytes(32).toString('base64url')
	const state = randomBytes(16).toString('base64url')
	const authorization = new URL(`${request.issuer}/auth`)
	authorization.search = new URLSearchParams({
		client_id: request.clientId,
		response_type: 'code',
		scope: request.scope,
		// OpenID Connect issues a refresh token for offline_access only with prompt=consent.
		prompt: 'consent',
		redirect_uri: request.redirectUri,
		code_challenge: createHash('sha256').update(codeVerifier).digest('base64url'),
		code_challenge_method: 'S256',
		state,
	}).toString()
	const cookies = new Map<string, string>()
	const send = async (url: string, init: RequestInit = {}) => {
		const response = await fetch(url, { ...init, redirect: 'manual', headers: { ...init.headers, cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; ') } })
		for (const cookie of response.headers.getSetCookie()) {
			const [pair = ''] = cookie.split(';')
			const name = pair.slice(0, pair.indexOf('='))
			if (/max-age=0|expires=thu, 01 jan 1970/i.test(cookie)) cookies.delete(name)
			else cookies.set(name, pair.slice(name.length + 1))
		}
		await response.body?.cancel()
		return response
	}
	let response = await send(authorization.href)
	for (let hop = 0; hop < MAX_SIGN_IN_REDIRECTS; hop++) {
		const location = response.headers.get('location')
		if (location === null) throw new Error(`headless sign-in: the provider answered ${response.status} without a redirect`)
		const next = new URL(location, request.issuer)
		if (next.href.startsWith(request.redirectUri.split('?')[0]!) && next.searchParams.has('state')) {
			if (next.searchParams.get('state') !== state) throw new Error('headless sign-in: the state came back changed')
			const code = next.searchParams.get('code')
			if (code === null) throw new Error(`headless sign-in refused: ${next.searchParams.get('error')} ${next.searchParams.get('error_description') ?? ''}`)
			const body = { grant_type: 'authorization_code', code, code_verifier: codeVerifier, redirect_uri: request.redirectUri, client_id: request.clientId }
			return { code, codeVerifier, redirectUri: request.redirectUri, clientId: request.clientId, exchange: { url: `${request.issuer}/token`, body } }
		}
		// The sign-in form posts the credentials; the consent prompt that may follow ignores them.
		response = next.pathname.startsWith('/interaction/')
			? await send(next.href, {
					method: 'POST',
					headers: { 'content-type': 'application/x-www-form-urlencoded' },
					body: new URLSearchParams({ username: request.account.username, password: request.account.password }),
				})
			: await send(next.href)
	}
	throw new Error(`headless sign-in: more than ${MAX_SIGN_IN_REDIRECTS} redirects`)
}

async function introspect(endpoint: string, token: string, secret: string): Promise<{ sub: string; jkt?: string } | undefined> {
	const response = await fetch(endpoint, {
		method: 'POST',
		headers: {
			'content-type': 'application/x-www-form-urlencoded',
			authorization: `Basic ${Buffer.from(`${RESOURCE_SERVER_ID}:${secret}`).toString('base64')}`,
		},
		body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
	})
	if (!response.ok) throw new Error(`introspection answered ${response.status}`)
	const answer = (await response.json()) as { active?: boolean; sub?: unknown; token_type?: unknown; cnf?: { jkt?: unknown } }
	// Only an active access token opens the API; introspection answers for refresh tokens too.
	if (answer.active !== true || typeof answer.sub !== 'string') return undefined
	if (answer.token_type === 'Bearer') return { sub: answer.sub }
	// A DPoP-bound one, with the key the API must see a proof of (RFC 9449 §6.2).
	return answer.token_type === 'DPoP' && typeof answer.cnf?.jkt === 'string' ? { sub: answer.sub, jkt: answer.cnf.jkt } : undefined
}

function readText(req: IncomingMessage): Promise<string> {
	return new Promise((resolve, reject) => {
		let text = ''
		req.setEncoding('utf8')
		req.on('data', (chunk: string) => (text += chunk))
		req.on('end', () => resolve(text))
		req.on('error', reject)
	})
}

function listen(server: Server, port: number): Promise<number> {
	return new Promise((resolve, reject) => {
		server.once('error', reject)
		server.listen(port, HOST, () => {
			server.off('error', reject)
			resolve((server.address() as AddressInfo).port)
		})
	})
}
