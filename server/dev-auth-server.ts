import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { HttpError, badRequest, flattenHeaders, parseRequestUrl, readBody, readCookie, sendJson, sendText, stringField } from './http-util.js'
import type { Body } from './http-util.js'
import { type DPoPVerdict, dpopVerifier } from './dpop-verifier.js'
import { serveStatic } from './static-files.js'
import { TokenStore } from './token-store.js'
import type { RefreshOutcome, TokenSet } from './token-store.js'

/** Options of {@link startDevAuthServer}. */
export interface DevAuthServerOptions {
	/** Default 0: a free port. */
	port?: number
	/** Default '127.0.0.1'; must be a loopback address. */
	host?: string
	/** Default 10_000. */
	accessTtlMs?: number
	/** When set, other GET/HEAD requests are served from this directory. */
	staticDir?: string
	/** Default false: log one line per request to the console. */
	log?: boolean
}

/**
 * Another issuer whose access tokens /api/* accepts instead of the server's own (startOidcProvider
 * returns one). Its counters stand in for the server's refresh counters, so the demo page and
 * stats() report the refreshes that really happen.
 */
export interface ExternalIssuer {
	/** `jkt`: the key a DPoP-bound token is bound to (its cnf.jkt); /api/* then wants a proof of that key. */
	verifyAccessToken(token: string): Promise<{ sub: string; jkt?: string } | undefined>
	/** What /__control/expire and expireAccessTokens() do. */
	expireAccessTokens(): void
	/** The issuer's refresh counts. */
	stats(): { refreshCalls: number; refreshSuccesses: number; reuseDetections: number; revocations: number }
}

/**
 * 'down': 503, 'busy': 429 (both with Retry-After when setRetryAfter() set one); 'hang': the
 * call is held, unanswered, until the mode changes, and then answered as the new mode says.
 */
export type RefreshMode = 'ok' | 'down' | 'busy' | 'slow' | 'hang' | 'reject' | 'garbage' | 'drop'

/** What the dev auth server counted since it started or since `resetStats()`. */
export interface DevAuthStats {
	/** Every hit of /oauth/token with grant_type=refresh_token and of /auth/refresh, whatever the outcome. */
	refreshCalls: number
	refreshSuccesses: number
	reuseDetections: number
	logins: number
	/** Every /api/* request except CORS preflights. */
	apiCalls: number
	api401: number
	revokedSessions: number
}

/** One /api/* or refresh request as the server saw it: recorded only while setTimeline(true). */
export interface TimelineEntry {
	kind: 'api' | 'refresh'
	/** Epoch ms when the server took the request up (a refresh: once its body was read) and when its answer was written (or the socket closed). */
	arrivedAt: number
	finishedAt: number
	/** 0 when no answer was written. */
	status: number
	/** The client's port: which connection carried it, to see how the browser spreads requests over its sockets. */
	clientPort: number
}

/** What the server's DPoP checks saw since the start (RFC 9449), for tests to assert on. */
export interface DPoPStats {
	/** Proofs that passed every check, at the token endpoint, the login and the API. */
	verified: number
	/** Requests refused for their proof, or for a DPoP-bound token sent without one; with the reasons, newest last. */
	refused: number
	reasons: string[]
	/** use_dpop_nonce answers (a proof without the server's current nonce). */
	nonceChallenges: number
	/** Bound tokens presented as Bearer or without a proof of their key. */
	unboundUses: number
}

/** A running dev auth server, from {@link startDevAuthServer}. */
export interface DevAuthServer {
	url: string
	port: number
	/** What the server counted since it started or since `resetStats()`. */
	stats(): DevAuthStats
	/** Starts the counts of `stats()` over. */
	resetStats(): void
	/** delayMs is used by 'slow' (default 2000). */
	setRefreshMode(mode: RefreshMode, delayMs?: number): void
	/** Extra delay before every refresh response, in any mode; default 0. */
	setRefreshDelay(ms: number): void
	/** Retry-After (seconds) that 'down' and 'busy' send; undefined (the default): none. */
	setRetryAfter(seconds: number | undefined): void
	/** When each refresh call arrived (epoch ms), oldest first; the last 10 000. */
	refreshCallTimes(): number[]
	/**
	 * Off by default. While on, every /api/* and refresh request is recorded (the last 100 000);
	 * turning it on clears what was recorded before.
	 */
	setTimeline(on: boolean): void
	/** The recorded requests, in the order they finished. */
	timeline(): TimelineEntry[]
	/** The lifetime of access tokens issued from now on. */
	setAccessTtl(ms: number): void
	/** Every access token issued so far is rejected by /api; refresh tokens stay valid. */
	expireAccessTokens(): void
	/** Every session is revoked: its refresh tokens get invalid_grant, its access tokens 401. */
	revokeAll(): void
	/** When true, /api/* answers 401 for every token. */
	setApiDeny(deny: boolean): void
	/** Headers of recent /api/* requests, newest last. */
	lastApiHeaders(): Record<string, string | undefined>[]
	/** Every refresh token issued so far, for tests that look for them where they must not be. */
	issuedRefreshTokens(): string[]
	/** From now on /api/* checks tokens with this issuer (undefined: with the server's own). */
	useIssuer(issuer: ExternalIssuer | undefined): void
	/**
	 * DPoP: the nonce every proof must carry from now on, at the token endpoint and the API
	 * (undefined, the default: none). Answers carry it in DPoP-Nonce.
	 */
	setDPoPNonce(nonce: string | undefined): void
	/** This server's clock runs this far ahead (ms; negative: behind): its Date headers and its proof window. */
	setClockSkew(ms: number): void
	/** What the DPoP checks saw since the start. */
	dpopStats(): DPoPStats
	/** Closes the server and all open connections. */
	close(): Promise<void>
}

const DEFAULT_HOST = '127.0.0.1'
const DEFAULT_ACCESS_TTL_MS = 10_000
const DEFAULT_SLOW_DELAY_MS = 2000
const MAX_API_DELAY_MS = 60_000
const MAX_RECORDED_API_HEADERS = 500
const DEMO_USERNAME = 'demo'
const DEMO_PASSWORD = 'demo'
const REFRESH_MODES: readonly RefreshMode[] = ['ok', 'down', 'busy', 'slow', 'hang', 'reject', 'garbage', 'drop']
const MAX_RECORDED_REFRESH_CALLS = 10_000
const MAX_TIMELINE_ENTRIES = 100_000
const REFRESH_COOKIE_ATTRIBUTES = 'HttpOnly; SameSite=Strict; Path=/auth'
const CLEAR_REFRESH_COOKIE = `rt=; Max-Age=0; ${REFRESH_COOKIE_ATTRIBUTES}`
const INVALID_GRANT = { error: 'invalid_grant' }
const REUSE_DETECTED = { error: 'invalid_grant', error_description: 'refresh token reuse detected; session revoked' }

interface RequestContext {
	req: IncomingMessage
	res: ServerResponse
	url: URL
}

type Handler = (ctx: RequestContext) => void | Promise<void>

/** Starts the dev auth server on 127.0.0.1: login, OAuth refresh with rotation and reuse detection, cookie refresh, a Bearer-protected `/api/*`, and switches for its faults. */
export async function startDevAuthServer(options: DevAuthServerOptions = {}): Promise<DevAuthServer> {
	const host = options.host ?? DEFAULT_HOST
	assertLoopback(host)
	const app = new DevAuthApp(options.accessTtlMs ?? DEFAULT_ACCESS_TTL_MS, options.staticDir)
	const server = createServer((req, res) => {
		if (options.log) logRequest(req, res)
		void app.handle(req, res)
	})
	const port = await listen(server, options.port ?? 0, host)
	let closing: Promise<void> | undefined
	return {
		url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
		port,
		stats: () => app.stats(),
		resetStats: () => app.resetStats(),
		setRefreshMode: (mode, delayMs) => app.setRefreshMode(mode, delayMs),
		setRefreshDelay: (ms) => app.setRefreshDelay(ms),
		setRetryAfter: (seconds) => app.setRetryAfter(seconds),
		refreshCallTimes: () => app.refreshCallTimes(),
		setTimeline: (on) => app.setTimeline(on),
		timeline: () => app.timeline(),
		setAccessTtl: (ms) => app.setAccessTtl(ms),
		expireAccessTokens: () => app.expireAccessTokens(),
		revokeAll: () => app.revokeAll(),
		setApiDeny: (deny) => app.setApiDeny(deny),
		lastApiHeaders: () => app.lastApiHeaders(),
		issuedRefreshTokens: () => app.issuedRefreshTokens(),
		useIssuer: (issuer) => app.useIssuer(issuer),
		setDPoPNonce: (nonce) => app.setDPoPNonce(nonce),
		setClockSkew: (ms) => app.setClockSkew(ms),
		dpopStats: () => app.dpopStats(),
		close: () => (closing ??= closeServer(server, app)),
	}
}

class DevAuthApp {
	private readonly store: TokenStore
	private counters = emptyStats()
	private refreshMode: RefreshMode = 'ok'
	private slowDelayMs = DEFAULT_SLOW_DELAY_MS
	private refreshDelayMs = 0
	private retryAfterS: number | undefined
	private readonly refreshCalls: number[] = []
	private timelineEntries: TimelineEntry[] | undefined
	/** Calls held by 'hang', released when the mode changes. */
	private readonly hanging = new Set<() => void>()
	private apiDeny = false
	private issuer: ExternalIssuer | undefined
	private dataCounter = 0
	private readonly apiHeaders: Record<string, string | undefined>[] = []
	private clockSkewMs = 0
	private dpopNonce: string | undefined
	private readonly dpopCounters: DPoPStats = { verified: 0, refused: 0, reasons: [], nonceChallenges: 0, unboundUses: 0 }
	/** A 60 s window, as RFC 9449 §11.1 suggests: a client clock minutes off passes only by correcting itself. */
	private readonly dpop = dpopVerifier({ now: () => this.now() })
	private readonly shutdown = new AbortController()
	private readonly routes = new Map<string, Handler>([
		['POST /auth/login', (ctx) => this.login(ctx)],
		['POST /oauth/token', (ctx) => this.oauthToken(ctx)],
		['POST /auth/refresh', (ctx) => this.cookieRefresh(ctx)],
		['POST /auth/logout', (ctx) => this.logout(ctx)],
		['GET /__control/stats', ({ res }) => sendJson(res, 200, this.stats())],
		['POST /__control/reset-stats', control(() => this.resetStats())],
		['POST /__control/expire', control(() => this.expireAccessTokens())],
		['POST /__control/revoke', control(() => this.revokeAll())],
		['POST /__control/refresh-mode', control((body) => this.setRefreshMode(refreshModeField(body), numberField(body, 'delayMs')))],
		['POST /__control/api-deny', control((body) => this.setApiDeny(booleanField(body, 'deny')))],
		['POST /__control/access-ttl', control((body) => this.setAccessTtl(positiveNumber(numberField(body, 'ms'), 'ms')))],
	])
	private readonly routedPaths = new Set([...this.routes.keys()].map((key) => key.slice(key.indexOf(' ') + 1)))

	constructor(
		accessTtlMs: number,
		private readonly staticDir: string | undefined,
	) {
		this.store = new TokenStore(accessTtlMs)
	}

	async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
		try {
			await this.route(req, res)
		} catch (error) {
			if (this.shutdown.signal.aborted) return
			if (!(error instanceof HttpError)) console.error('dev-auth-server: unexpected error', error)
			if (res.headersSent) return void res.destroy()
			if (error instanceof HttpError) sendJson(res, error.status, error.body, error.headers)
			else sendJson(res, 500, { error: 'server_error' })
		}
	}

	stats(): DevAuthStats {
		if (this.issuer === undefined) return { ...this.counters }
		const { refreshCalls, refreshSuccesses, reuseDetections, revocations } = this.issuer.stats()
		return { ...this.counters, refreshCalls, refreshSuccesses, reuseDetections, revokedSessions: revocations + reuseDetections }
	}

	setDPoPNonce(nonce: string | undefined): void {
		this.dpopNonce = nonce
	}

	setClockSkew(ms: number): void {
		this.clockSkewMs = ms
	}

	dpopStats(): DPoPStats {
		return { ...this.dpopCounters, reasons: [...this.dpopCounters.reasons] }
	}

	private now(): number {
		return Date.now() + this.clockSkewMs
	}

	/**
	 * Checks the request's DPoP proof, if it sent one: the key's thumbprint when it passes. Refused,
	 * it throws the answer: 400 at the token endpoint (RFC 9449 §5), 401 with a DPoP challenge at the API (§7.1).
	 */
	private async checkProof(req: IncomingMessage, url: URL, at: 'token' | 'api', accessToken?: string, jkt?: string): Promise<string | undefined> {
		const proof = req.headers.dpop
		if (proof === undefined && at === 'token') return undefined
		const verdict: DPoPVerdict = await this.dpop.verify(typeof proof === 'string' ? proof : undefined, {
			method: req.method ?? 'GET',
			url: `http://${req.headers.host}${url.pathname}${url.search}`,
			...(accessToken === undefined ? {} : { accessToken }),
			...(jkt === undefined ? {} : { jkt }),
			...(this.dpopNonce === undefined ? {} : { nonce: this.dpopNonce }),
		})
		if (verdict.ok) {
			this.dpopCounters.verified++
			return verdict.jkt
		}
		// Every refusal names the nonce (RFC 9449 §8.2 lets any answer carry it): a proof refused for its iat is sent again with both right.
		const nonce = this.dpopNonce !== undefined ? { 'DPoP-Nonce': this.dpopNonce } : {}
		if (verdict.error === 'use_dpop_nonce') this.dpopCounters.nonceChallenges++
		else {
			this.dpopCounters.refused++
			this.dpopCounters.reasons.push(`${at}: ${verdict.reason}`)
		}
		if (at === 'token') throw new HttpError(400, { error: verdict.error, error_description: verdict.reason }, nonce)
		throw new HttpError(401, { error: verdict.error, error_description: verdict.reason }, { 'WWW-Authenticate': `DPoP error="${verdict.error}", algs="ES256"`, ...nonce })
	}

	useIssuer(issuer: ExternalIssuer | undefined): void {
		this.issuer = issuer
	}

	resetStats(): void {
		this.counters = emptyStats()
	}

	setRefreshMode(mode: RefreshMode, delayMs = DEFAULT_SLOW_DELAY_MS): void {
		this.refreshMode = mode
		this.slowDelayMs = delayMs
		if (mode !== 'hang') this.releaseHanging()
	}

	setRefreshDelay(ms: number): void {
		this.refreshDelayMs = ms
	}

	setRetryAfter(seconds: number | undefined): void {
		this.retryAfterS = seconds
	}

	refreshCallTimes(): number[] {
		return [...this.refreshCalls]
	}

	setTimeline(on: boolean): void {
		this.timelineEntries = on ? [] : undefined
	}

	timeline(): TimelineEntry[] {
		return this.timelineEntries?.map((entry) => ({ ...entry })) ?? []
	}

	setAccessTtl(ms: number): void {
		this.store.accessTtlMs = ms
	}

	expireAccessTokens(): void {
		if (this.issuer === undefined) this.store.expireAccessTokens()
		else this.issuer.expireAccessTokens()
	}

	revokeAll(): void {
		this.counters.revokedSessions += this.store.revokeAll()
	}

	setApiDeny(deny: boolean): void {
		this.apiDeny = deny
	}

	lastApiHeaders(): Record<string, string | undefined>[] {
		return this.apiHeaders.map((headers) => ({ ...headers }))
	}

	issuedRefreshTokens(): string[] {
		return this.store.issuedRefreshTokens()
	}

	/** Makes pending delays reject so their handlers end quietly. */
	stop(): void {
		this.shutdown.abort()
		this.releaseHanging()
	}

	private releaseHanging(): void {
		for (const release of this.hanging) release()
		this.hanging.clear()
	}

	private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
		// The server's clock as clients see it: DPoP clients correct their proofs' iat by it.
		if (this.clockSkewMs !== 0) res.setHeader('Date', new Date(this.now()).toUTCString())
		const url = parseRequestUrl(req)
		const { pathname } = url
		if (pathname.startsWith('/api/') || pathname === '/oauth/token') {
			allowCors(req, res)
			if (req.method === 'OPTIONS') return answerPreflight(res)
		}
		if (pathname.startsWith('/api/')) {
			this.record('api', req, res)
			return this.api({ req, res, url })
		}
		const handler = this.routes.get(`${req.method} ${pathname}`)
		if (handler) return handler({ req, res, url })
		if (this.routedPaths.has(pathname)) throw new HttpError(405, { error: 'method_not_allowed' })
		if (await this.serveStaticFile(req, res, pathname)) return
		throw new HttpError(404, { error: 'not_found' })
	}

	private async serveStaticFile(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> {
		if (this.staticDir === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) return false
		return serveStatic(req, res, this.staticDir, pathname)
	}

	private async login({ req, res, url }: RequestContext): Promise<void> {
		const body = await readBody(req)
		// With a proof, the session is bound to its key (RFC 9449 §5), as a token endpoint binds a code exchange.
		const jkt = await this.checkProof(req, url, 'token')
		if (stringField(body, 'username') !== DEMO_USERNAME || stringField(body, 'password') !== DEMO_PASSWORD) {
			throw new HttpError(401, { error: 'invalid_credentials' })
		}
		this.counters.logins++
		const tokens = this.store.login(jkt)
		if (stringField(body, 'mode') === 'cookie' || url.searchParams.get('mode') === 'cookie') {
			sendJson(res, 200, tokenResponse(tokens, false), { 'Set-Cookie': refreshCookie(tokens.refreshToken) })
		} else {
			sendJson(res, 200, tokenResponse(tokens, true))
		}
	}

	private async oauthToken({ req, res, url }: RequestContext): Promise<void> {
		const body = await readBody(req)
		const grantType = stringField(body, 'grant_type')
		if (grantType === undefined) throw badRequest('grant_type is required')
		if (grantType !== 'refresh_token') throw new HttpError(400, { error: 'unsupported_grant_type' })
		if (!(await this.passRefreshMode(req, res))) return
		const jkt = await this.checkProof(req, url, 'token')
		const outcome = this.rotate(stringField(body, 'refresh_token'), jkt)
		if (outcome.kind !== 'ok') return sendJson(res, 400, refreshError(outcome))
		sendJson(res, 200, tokenResponse(outcome.tokens, true))
	}

	private async cookieRefresh({ req, res }: RequestContext): Promise<void> {
		if (!(await this.passRefreshMode(req, res))) return
		const refreshToken = readCookie(req, 'rt')
		if (refreshToken === undefined) return sendJson(res, 401, INVALID_GRANT)
		const outcome = this.rotate(refreshToken)
		if (outcome.kind !== 'ok') return sendJson(res, 400, refreshError(outcome), { 'Set-Cookie': CLEAR_REFRESH_COOKIE })
		sendJson(res, 200, tokenResponse(outcome.tokens, false), { 'Set-Cookie': refreshCookie(outcome.tokens.refreshToken) })
	}

	/** Counts the refresh call and plays the simulated failure mode; false when that already answered. */
	private async passRefreshMode(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
		this.record('refresh', req, res)
		this.counters.refreshCalls++
		this.refreshCalls.push(Date.now())
		if (this.refreshCalls.length > MAX_RECORDED_REFRESH_CALLS) this.refreshCalls.shift()
		// Like a stalled backend: the call is processed when it recovers, whether or not its client still waits.
		if (this.refreshMode === 'hang') await new Promise<void>((release) => this.hanging.add(release))
		if (this.shutdown.signal.aborted) return false
		const mode = this.refreshMode
		await this.delay(this.refreshDelayMs + (mode === 'slow' ? this.slowDelayMs : 0))
		const retryAfter = this.retryAfterS === undefined ? undefined : { 'Retry-After': String(this.retryAfterS) }
		switch (mode) {
			case 'ok':
			case 'slow':
			case 'hang':
				return true
			case 'down':
				sendJson(res, 503, { error: 'temporarily_unavailable' }, retryAfter)
				return false
			case 'busy':
				sendJson(res, 429, { error: 'slow_down' }, retryAfter)
				return false
			case 'reject':
				sendJson(res, 400, INVALID_GRANT)
				return false
			case 'garbage':
				sendText(res, 200, 'text/html; charset=utf-8', '<html>not json</html>')
				return false
			case 'drop':
				req.socket.destroy()
				return false
		}
	}

	private rotate(refreshToken: string | undefined, jkt?: string): RefreshOutcome {
		const outcome: RefreshOutcome = refreshToken ? this.store.refresh(refreshToken, jkt) : { kind: 'invalid' }
		if (outcome.kind === 'ok') this.counters.refreshSuccesses++
		if (outcome.kind === 'reuse') {
			this.counters.reuseDetections++
			this.counters.revokedSessions++
		}
		return outcome
	}

	private async logout({ req, res, url }: RequestContext): Promise<void> {
		const body = await readBody(req)
		// Revocation with a DPoP-bound session: a proof sent is checked like any other.
		await this.checkProof(req, url, 'token')
		// 'token' is RFC 7009's name, so this endpoint also serves as the demo's revocation endpoint.
		for (const refreshToken of [stringField(body, 'refresh_token'), stringField(body, 'token'), readCookie(req, 'rt')]) {
			if (refreshToken && this.store.revokeByRefreshToken(refreshToken)) this.counters.revokedSessions++
		}
		res.writeHead(204, { 'Set-Cookie': CLEAR_REFRESH_COOKIE, 'Cache-Control': 'no-store' }).end()
	}

	private async api({ req, res, url }: RequestContext): Promise<void> {
		this.counters.apiCalls++
		this.recordApiHeaders(req)
		// Waiting before validation lets tests expire or rotate a token while the request is in flight.
		await this.delay(apiDelay(url.searchParams.get('delay')))
		// Lets tests check that a redirect to another origin does not carry the token along.
		// ?status=307 (or 308) resends the method and body, as an open redirect that moves a sign-in POST would.
		if (url.pathname === '/api/redirect') return redirectToLoopback(res, url.searchParams.get('to'), url.searchParams.get('status'))
		const claims = await this.authorize(req, url).catch((error: unknown) => {
			// A refused proof or a nonce challenge is a 401 too (its answer is the error's).
			this.counters.api401++
			throw error
		})
		if (!claims) {
			this.counters.api401++
			return sendJson(res, 401, { error: 'invalid_token' }, { 'WWW-Authenticate': 'Bearer error="invalid_token"' })
		}
		// /api/echo answers with the body it was sent, so tests see that a retried request carried it again.
		const body = url.pathname === '/api/echo' && req.method === 'POST' ? await readBody(req) : undefined
		sendJson(res, 200, { ...this.apiResult(url.pathname, claims, req), ...(body === undefined ? {} : { body }) })
	}

	/** As a resource server must (RFC 9449 §7): a DPoP-bound token only under the DPoP scheme, with a proof of its key. */
	private async authorize(req: IncomingMessage, url: URL): Promise<{ sub: string } | undefined> {
		const [, scheme, token] = /^(Bearer|DPoP)\s+(\S+)$/i.exec(req.headers.authorization ?? '') ?? []
		if (this.apiDeny || token === undefined) return undefined
		const claims: { sub: string; jkt?: string; cnf?: { jkt: string } } | undefined = this.issuer === undefined ? this.store.verifyAccessToken(token) : await this.issuer.verifyAccessToken(token)
		const jkt = claims?.cnf?.jkt ?? claims?.jkt
		if (claims === undefined || (jkt === undefined && scheme!.toLowerCase() === 'bearer')) return claims
		if (jkt === undefined || scheme!.toLowerCase() !== 'dpop') {
			this.dpopCounters.unboundUses++
			return undefined
		}
		await this.checkProof(req, url, 'api', token, jkt)
		return claims
	}

	private apiResult(pathname: string, claims: { sub: string }, req: IncomingMessage): object {
		switch (pathname) {
			case '/api/data':
				return { ok: true, sub: claims.sub, n: ++this.dataCounter }
			case '/api/echo':
				return { ok: true, headers: req.headers }
			default:
				return { ok: true, path: pathname }
		}
	}

	private record(kind: TimelineEntry['kind'], req: IncomingMessage, res: ServerResponse): void {
		const entries = this.timelineEntries
		if (entries === undefined) return
		const arrivedAt = Date.now()
		const clientPort = req.socket.remotePort ?? 0
		res.once('close', () => {
			// Still the same recording: setTimeline(true) in between starts a new one.
			if (this.timelineEntries !== entries) return
			entries.push({ kind, arrivedAt, finishedAt: Date.now(), status: res.writableFinished ? res.statusCode : 0, clientPort })
			if (entries.length > MAX_TIMELINE_ENTRIES) entries.shift()
		})
	}

	private recordApiHeaders(req: IncomingMessage): void {
		this.apiHeaders.push(flattenHeaders(req.headers))
		if (this.apiHeaders.length > MAX_RECORDED_API_HEADERS) this.apiHeaders.shift()
	}

	private async delay(ms: number): Promise<void> {
		if (ms > 0) await sleep(ms, undefined, { signal: this.shutdown.signal })
	}
}

function emptyStats(): DevAuthStats {
	return { refreshCalls: 0, refreshSuccesses: 0, reuseDetections: 0, logins: 0, apiCalls: 0, api401: 0, revokedSessions: 0 }
}

function control(action: (body: Body) => void): Handler {
	return async ({ req, res }) => {
		action(await readBody(req))
		sendJson(res, 200, { ok: true })
	}
}

function tokenResponse(tokens: TokenSet, includeRefreshToken: boolean): object {
	return {
		access_token: tokens.accessToken,
		token_type: tokens.jkt === undefined ? 'Bearer' : 'DPoP',
		expires_in: tokens.expiresIn,
		...(includeRefreshToken ? { refresh_token: tokens.refreshToken } : {}),
	}
}

function refreshError(outcome: RefreshOutcome): object {
	return outcome.kind === 'reuse' ? REUSE_DETECTED : INVALID_GRANT
}

function refreshCookie(refreshToken: string): string {
	return `rt=${refreshToken}; ${REFRESH_COOKIE_ATTRIBUTES}`
}

function allowCors(req: IncomingMessage, res: ServerResponse): void {
	res.setHeader('Access-Control-Allow-Origin', req.headers.origin ?? '*')
	// Retry-After and Date are not CORS-safelisted: the broker reads them from a cross-origin token endpoint only when exposed.
	res.setHeader('Access-Control-Expose-Headers', 'WWW-Authenticate, Retry-After, Date, DPoP-Nonce')
	res.setHeader('Vary', 'Origin')
}

function answerPreflight(res: ServerResponse): void {
	res
		.writeHead(204, {
			'Access-Control-Allow-Headers': 'authorization, content-type, dpop',
			'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
		})
		.end()
}

function redirectToLoopback(res: ServerResponse, to: string | null, status: string | null): void {
	let target: URL
	try {
		target = new URL(to ?? '')
	} catch {
		throw badRequest('to must be an absolute URL')
	}
	if (!['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname)) throw badRequest('only loopback redirects')
	const code = Number(status ?? 302)
	if (![301, 302, 303, 307, 308].includes(code)) throw badRequest('status must be a redirect status')
	res.writeHead(code, { Location: target.href, 'Cache-Control': 'no-store' }).end()
}

function apiDelay(raw: string | null): number {
	const ms = Number(raw)
	return Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_API_DELAY_MS) : 0
}

function refreshModeField(body: Body): RefreshMode {
	const mode = REFRESH_MODES.find((candidate) => candidate === body.mode)
	if (!mode) throw badRequest(`mode must be one of ${REFRESH_MODES.join(', ')}`)
	return mode
}

function numberField(body: Body, key: string): number | undefined {
	const value = body[key]
	if (value === undefined) return undefined
	const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
	if (typeof number !== 'number' || !Number.isFinite(number) || number < 0) {
		throw badRequest(`${key} must be a non-negative number`)
	}
	return number
}

function positiveNumber(value: number | undefined, key: string): number {
	if (value === undefined || value <= 0) throw badRequest(`${key} must be a positive number`)
	return value
}

function booleanField(body: Body, key: string): boolean {
	const value = body[key]
	if (value === true || value === 'true') return true
	if (value === false || value === 'false') return false
	throw badRequest(`${key} must be a boolean`)
}

function assertLoopback(host: string): void {
	if (host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host)) return
	throw new Error(`dev auth server only listens on loopback, not on "${host}"`)
}

function listen(server: Server, port: number, host: string): Promise<number> {
	return new Promise((resolve, reject) => {
		server.once('error', reject)
		server.listen(port, host, () => {
			server.off('error', reject)
			resolve((server.address() as AddressInfo).port)
		})
	})
}

function closeServer(server: Server, app: DevAuthApp): Promise<void> {
	app.stop()
	return new Promise((resolve, reject) => {
		server.close((error) => (error ? reject(error) : resolve()))
		server.closeAllConnections()
	})
}

function logRequest(req: IncomingMessage, res: ServerResponse): void {
	const started = Date.now()
	res.on('close', () => {
		const status = res.writableFinished ? res.statusCode : 'dropped'
		console.log(`${req.method} ${req.url} ${status} ${Date.now() - started}ms`)
	})
}
