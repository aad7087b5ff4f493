/**
 * The "real system" of the model-based test (test/core/model.test.ts): one BrokerCore (replaced
 * on a worker restart), N TabSessions with an axios instance each, a fake API server and a fake
 * auth server with refresh-token rotation and reuse detection — every asynchronous hop (message
 * to the broker, reply, broadcast, API call, auth-server call and answer) goes through a
 * fast-check scheduler, so fast-check chooses (and can replay and shrink) the interleaving.
 *
 * Time is fake: `world.now` is the wall clock given to BrokerCore and TabSession, and the caller
 * installs vitest fake timers (setTimeout/clearTimeout only) so the broker's refresh timeout and
 * the page's broker timeout fire exactly when the model advances time.
 */
import axios, { AxiosError, AxiosHeaders, CanceledError, type AxiosAdapter, type AxiosInstance, type AxiosResponse, type InternalAxiosRequestConfig } from 'axios'
import type { Scheduler } from 'fast-check'
import { vi } from 'vitest'
import { attachAxios } from '../../src/adapters/axios.js'
import { clientOver } from '../../src/create-token-client.js'
import type { BrokerConnection } from '../../src/transports/connection.js'
import { BrokerCore, type BrokerEvent, DEFAULT_REFRESH_TIMEOUT_MS } from '../../src/core/broker-core.js'
import { BrokerTimeoutError } from '../../src/core/errors/broker-timeout-error.js'
import { LoggedOutError } from '../../src/core/errors/logged-out-error.js'
import { LoginFailedError } from '../../src/core/errors/login-failed-error.js'
import { RefreshRejectedError } from '../../src/core/errors/refresh-rejected-error.js'
import { RefreshUnavailableError } from '../../src/core/errors/refresh-unavailable-error.js'
import { deserializeError, serializeError } from '../../src/core/errors/serialize.js'
import type { RefreshContext, RefreshFunction } from '../../src/core/refresh-function.js'
import { readTokenResponse } from '../../src/core/token-response.js'
import { type BrokerBroadcast, type BrokerReply, type BrokerRequest, type LogoutReason, type TokenSet, type TokenSnapshot, envelope } from '../../src/core/protocol.js'
import { parseRequest } from '../../src/core/parse-message.js'
import { readBrokerMessage } from '../../src/transports/broker-message.js'
import { type TabSession, type TokenEvent, tabSession } from '../../src/session/tab-session.js'

export const APP = 'http://app.test'
export const T0 = 1_700_000_000_000
/** When the broker does not know the expiry, the API still expires tokens after this long. */
const HIDDEN_TTL_MS = 60_000
/** Each delivered hop (message, reply, broadcast, server answer) takes this long. */
const HOP_MS = 1
/** A stopped worker starts again on the next event: the wall clock has moved on by then. */
const RESTART_GAP_MS = 50

/** Where the refresh token lives: in the broker (OAuth body, rotated in the answer) or in an HttpOnly cookie jar. */
export type AuthMode = 'body' | 'cookie'
/**
 * The auth server's failure switch. Its answers are HTTP responses, read by the presets' own
 * readTokenResponse, so the classification is the real one. Transient: 'down' (503), 'busy'
 * (429), 'bad-request' (400 invalid_scope), 'garbage' (200 HTML), 'offline' (unreachable).
 * Definitive: 'reject' (400 invalid_grant), 'forbidden' (403 invalid_grant), 'misconfigured'
 * (400 invalid_client). 'down' and 'busy' send `AuthServer.retryAfter` when it is set.
 */
export type ServerMode = 'ok' | 'down' | 'busy' | 'bad-request' | 'garbage' | 'offline' | 'reject' | 'forbidden' | 'misconfigured'

/** What the auth server answers a refresh with, before it becomes a Response. */
type Answer = { status: number; error?: string; html?: true; retryAfter?: number }

/** The server's answer as the browser hands it to the preset. */
function responseOf(answer: Answer, tokens?: TokenSet, refreshToken?: string): Response {
	const headers: Record<string, string> = { 'content-type': answer.html ? 'text/html' : 'application/json' }
	if (answer.retryAfter !== undefined) headers['retry-after'] = String(answer.retryAfter)
	if (answer.html) return new Response('<html>maintenance</html>', { status: answer.status, headers })
	if (answer.error !== undefined) return new Response(JSON.stringify({ error: answer.error }), { status: answer.status, headers })
	const body: Record<string, unknown> = { access_token: tokens?.accessToken, token_type: 'Bearer' }
	if (tokens?.refreshToken !== undefined) body.refresh_token = refreshToken
	if (tokens?.expiresIn !== undefined) body.expires_in = tokens.expiresIn
	return new Response(JSON.stringify(body), { status: answer.status, headers })
}

/** Answers that end the session by the table in docs/lifetimes-and-engines.md; the model checks that only these do. */
function isDefinitiveAnswer(answer: Answer): boolean {
	return answer.status === 401 || (answer.status < 500 && ['invalid_grant', 'invalid_client', 'unauthorized_client'].includes(answer.error ?? ''))
}

export interface WorldConfig {
	tabs: number
	auth: AuthMode
	/** `expiresIn` the auth server returns, in seconds; undefined: the broker learns no expiry. */
	expiresIn: number | undefined
	/** Seeds the broker's jitter (backoff), so backoff is deterministic. */
	randomSeed: number
}

/** Index of a token in the auth server's issue order (`at-7`, `rt-7` → 7). */
export function indexOf(token: string): number {
	const index = Number(token.slice(3))
	if (!Number.isInteger(index)) throw new Error(`not a token of the fake auth server: ${token}`)
	return index
}

function mulberry32(seed: number): () => number {
	let a = seed >>> 0
	return () => {
		a = (a + 0x6d2b79f5) >>> 0
		let t = a
		t = Math.imul(t ^ (t >>> 15), t | 1)
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296
	}
}

type RefreshOutcome = { ok: true; tokens: TokenSet; refreshToken: string } | { ok: false; answer: Answer }

/** An OAuth server with refresh-token rotation and reuse detection (the Auth0 / Okta / Keycloak default). */
export class AuthServer {
	mode: ServerMode = 'ok'
	/** Retry-After (seconds) that 'down' and 'busy' send; undefined: none. */
	retryAfter: number | undefined
	/** Presentations of a refresh token that had already been exchanged: must stay 0. */
	reuse: string[] = []
	/**
	 * Refresh tokens the server rotated for a call the broker then abandoned (its hard cap, three
	 * refresh timeouts) before the answer reached it: the broker cannot know the rotation
	 * happened, so presenting the token again is the one reuse no client can avoid. Counted
	 * apart, not as a violation.
	 */
	readonly rotatedUnseen = new Set<string>()
	readonly unavoidableReuse: string[] = []
	/** Refresh requests that reached the server, in order. */
	readonly received: Array<{ credential: string; at: number; result: string }> = []
	readonly #access = new Map<string, { family: number; expiresAt: number; login: boolean }>()
	readonly #refresh = new Map<string, { family: number; used: boolean }>()
	readonly #revokedFamilies = new Set<number>()
	#accessRevokedBefore = 0
	#next = 1
	#families = 0

	constructor(readonly config: WorldConfig) {}

	#issue(family: number, now: number, login: boolean): { tokens: TokenSet; refreshToken: string } {
		const index = this.#next++
		const accessToken = `at-${index}`
		const refreshToken = `rt-${index}`
		const ttl = this.config.expiresIn === undefined ? HIDDEN_TTL_MS : this.config.expiresIn * 1000
		this.#access.set(accessToken, { family, expiresAt: now + ttl, login })
		this.#refresh.set(refreshToken, { family, used: false })
		const tokens: TokenSet = { accessToken }
		if (this.config.auth === 'body') tokens.refreshToken = refreshToken
		if (this.config.expiresIn !== undefined) tokens.expiresIn = this.config.expiresIn
		return { tokens, refreshToken }
	}

	/** A sign-in: a new token family. */
	login(now: number): { tokens: TokenSet; refreshToken: string } {
		return this.#issue(++this.#families, now, true)
	}

	isLoginToken(accessToken: string): boolean {
		return this.#access.get(accessToken)?.login === true
	}

	familyOfAccess(accessToken: string): number | undefined {
		return this.#access.get(accessToken)?.family
	}

	familyOfRefresh(refreshToken: string): number | undefined {
		return this.#refresh.get(refreshToken)?.family
	}

	knows(accessToken: string): boolean {
		return this.#access.has(accessToken)
	}

	/** Does the API accept this access token now? */
	isLive(accessToken: string, now: number): boolean {
		const record = this.#access.get(accessToken)
		if (record === undefined) return false
		return now < record.expiresAt && !this.#revokedFamilies.has(record.family) && indexOf(accessToken) >= this.#accessRevokedBefore
	}

	/** A user logout at the server (cookie logout URL, RFC 7009 revocation): the whole session ends. */
	endSession(refreshToken: string): void {
		const family = this.#refresh.get(refreshToken)?.family
		if (family !== undefined) this.#revokedFamilies.add(family)
	}

	/** Invalidates every access token issued so far (a key rotation, a server-side session reset): the API answers 401. */
	revokeAccessTokens(): void {
		this.#accessRevokedBefore = this.#next
	}

	refresh(credential: string, now: number): RefreshOutcome {
		const outcome = this.#refreshOutcome(credential, now)
		this.received.push({
			credential,
			at: now,
			result: outcome.ok ? `ok ${outcome.tokens.accessToken}` : `${outcome.answer.status}${outcome.answer.error === undefined ? '' : ` ${outcome.answer.error}`}`,
		})
		return outcome
	}

	#refreshOutcome(credential: string, now: number): RefreshOutcome {
		const failed = (answer: Answer): RefreshOutcome => ({ ok: false, answer })
		const retryAfter = this.retryAfter === undefined ? {} : { retryAfter: this.retryAfter }
		switch (this.mode) {
			case 'down':
				return failed({ status: 503, error: 'temporarily_unavailable', ...retryAfter })
			case 'busy':
				return failed({ status: 429, ...retryAfter })
			case 'bad-request':
				return failed({ status: 400, error: 'invalid_scope' })
			case 'garbage':
				return failed({ status: 200, html: true })
			default:
		}
		const record = this.#refresh.get(credential)
		const rejected = (status = 400, error = 'invalid_grant'): RefreshOutcome => failed({ status, error })
		if (record === undefined) return rejected()
		if (record.used) {
			// Reuse detection: somebody presented a rotated-away token; the whole family is revoked.
			if (this.rotatedUnseen.has(credential)) this.unavoidableReuse.push(credential)
			else this.reuse.push(credential)
			this.#revokedFamilies.add(record.family)
			return rejected()
		}
		if (this.#revokedFamilies.has(record.family)) return rejected()
		// A refused client ends nothing at a real server; revoking here keeps the model's account of
		// ended sessions (forgottenRejections: a forgotten session is rejected again) one rule.
		if (this.mode === 'reject' || this.mode === 'forbidden' || this.mode === 'misconfigured') {
			this.#revokedFamilies.add(record.family)
			return this.mode === 'reject' ? rejected() : this.mode === 'forbidden' ? rejected(403) : rejected(400, 'invalid_client')
		}
		record.used = true
		const issued = this.#issue(record.family, now, false)
		return { ok: true, tokens: issued.tokens, refreshToken: issued.refreshToken }
	}
}

/** One lifetime of the broker's memory: a restart in memory mode starts a new one, a version hand-over keeps it. */
interface Lineage {
	id: number
	/** Set by a logout broadcast (user or definitive failure), cleared by the token broadcast of a login. */
	ended: LogoutReason | null
}

interface CoreRecord {
	id: number
	core: BrokerCore
	lineage: Lineage
	/** Killed (memory mode restart): its replies, broadcasts and network calls are lost. */
	dead: boolean
	/** Requests it is handling (the host holds them with event.waitUntil, so the browser does not stop it meanwhile). */
	handling: number
	/** How its last refresh call ended at the auth server: only a definitive answer may end a session. */
	lastAnswer: 'ok' | 'definitive' | 'transient' | null
	/** Logins (and exchanges) it broadcast; a definitive answer to a call started in the same session ends that session. */
	logins: number
	endedByAnswer: boolean
	/** The next attempt its last 'backoff' event announced (epoch ms); a login starts over. */
	nextAttemptAt: number
	/** When its last refresh call started, and the Retry-After deadline it was last given. */
	lastAttemptAt: number
	retryAfterUntil: number
}

interface RefreshCall {
	id: number
	owner: CoreRecord
	open: boolean
}

export interface Tab {
	id: number
	session: TabSession
	http: AxiosInstance
	open: boolean
	readonly outbox: Array<() => void>
	readonly inbox: unknown[]
	readonly listeners: Set<(message: BrokerBroadcast) => void>
	readonly events: TokenEvent[]
	readonly logouts: LogoutReason[]
	/** Highest adoption rank of the tokens this tab has seen in token events, and that token. */
	maxSeen: number
	maxSeenToken: string | null
	/** The user logged out in this tab since its last token: it ends its session at once, before the broker hears of it. */
	userLogout: boolean
}

export type OpKind = 'request' | 'login' | 'exchange' | 'logout' | 'ping' | 'refresh' | 'resume'

export interface Op {
	id: number
	kind: OpKind
	tab: number
	settled: boolean
	value?: unknown
	error?: unknown
	controller?: AbortController
	/** Highest adoption rank of the tokens the tab had seen when the request was made. */
	startMax: number
	startMaxToken: string | null
	attempts: Array<{ token: string | null; retry: boolean }>
}

/** What each operation may end with; anything else (a TypeError, a ProtocolError…) is a bug. */
export function expectedError(kind: OpKind, error: unknown): boolean {
	if (error instanceof BrokerTimeoutError) return true
	switch (kind) {
		case 'request':
			return axios.isCancel(error) || error instanceof LoggedOutError || error instanceof RefreshUnavailableError || (error instanceof AxiosError && error.response?.status === 401)
		case 'refresh':
			return error instanceof LoggedOutError || error instanceof RefreshUnavailableError
		case 'exchange':
			return error instanceof LoginFailedError
		default:
			return false
	}
}

function describeRequest(request: BrokerRequest): string {
	switch (request.type) {
		case 'refresh':
			return `refresh(failed ${request.failedToken ?? 'none'})`
		case 'login':
			return `login(${request.tokens.accessToken})`
		case 'seed':
			return `seed(${request.accessToken} g${request.generation})`
		default:
			return request.type
	}
}

export function describeError(error: unknown): string {
	if (error instanceof AxiosError && error.response !== undefined) return `AxiosError ${error.response.status}`
	if (error instanceof Error) return `${error.name}: ${error.message}`
	return String(error)
}

export class World {
	now = T0
	readonly server: AuthServer
	readonly tabs: Tab[] = []
	readonly ops: Op[] = []
	readonly violations: string[] = []
	/** Calls of the refresh function, by every broker instance, in order. */
	readonly refreshCalls: Array<{ id: number; core: number; credential: string | undefined; at: number }> = []
	/**
	 * Cookie mode, memory mode: a restarted worker forgot that a session ended by a definitive
	 * refresh failure and presented that session's cookie once more (so may a broker that adopted
	 * a login since, if the browser's cookie is still that session's). Nothing can tell it: the
	 * HttpOnly cookie is out of script's reach, and a rejecting refresh endpoint ends the session
	 * at the server but does not clear the cookie. One extra rejected call, harmless, so counted
	 * apart, not as a violation; the server must reject it. (A user logout is not exempt: the
	 * server logout clears the cookie; see keptCookies for when it could not.)
	 */
	readonly forgottenRejections: string[] = []
	/**
	 * Cookie mode: a user logout whose server logout did not get through (the server was
	 * unreachable or down, or the broker abandoned the call at its hard cap, possibly after the
	 * server processed it but before the answer that clears the cookie arrived). The HttpOnly
	 * cookie stays, out of the broker's reach; a broker that no longer knows of the logout (a
	 * restarted worker in memory mode, or one that adopted a login since) may present it, and no
	 * client can avoid that. Counted apart (the families, and the presentations), not as a violation.
	 */
	readonly #keptCookieFamilies = new Set<number>()
	readonly keptCookies: string[] = []
	readonly log: string[] = []
	/** Refresh requests that arrived while the broker waited before its next attempt, and got a token from it. */
	joinedScheduled = 0
	current!: CoreRecord
	/** The cookie jar of the origin (cookie mode): the refresh token the browser would send. */
	jar: string | undefined
	#active = 0
	/** Messages between tabs and the worker that are posted but not yet delivered. */
	#inTransit = 0
	maxActive = 0
	readonly #openCalls = new Set<RefreshCall>()
	#cores = 0
	#lineages = 0
	readonly #random: () => number
	/** Order in which brokers adopted tokens (by their token broadcasts): what "older" means for a tab. */
	readonly #rank = new Map<string, number>()
	/** Broadcast sequence: token adoptions (their rank) and logouts share it. */
	#sequence = 0
	/** Sequence number of the latest logout broadcast by any broker. */
	#lastLogout = 0
	/** Token family of the session the brokers last adopted a token of, and the families that were logged out (with why). */
	#sessionFamily: number | undefined
	readonly #endedFamilies = new Map<number, Set<LogoutReason>>()

	constructor(
		readonly config: WorldConfig,
		readonly s: Scheduler,
	) {
		this.server = new AuthServer(config)
		this.#random = mulberry32(config.randomSeed)
		this.#startCore(null)
		for (let i = 0; i < config.tabs; i++) this.openTab()
	}

	/** Adoption rank of a token: a login issued earlier may be adopted later than a concurrent one. */
	rank(token: string): number {
		const rank = this.#rank.get(token)
		if (rank === undefined) {
			this.violation(`a tab holds ${token}, which no broker ever adopted`)
			return Number.MAX_SAFE_INTEGER
		}
		return rank
	}

	violation(message: string): void {
		this.violations.push(`${message}  [t=+${this.now - T0} ms]`)
	}

	get core(): BrokerCore {
		return this.current.core
	}

	// ---------------------------------------------------------------- the broker (service worker)

	#startCore(lineage: Lineage | null): CoreRecord {
		const record: CoreRecord = {
			id: ++this.#cores,
			lineage: lineage ?? { id: ++this.#lineages, ended: null },
			dead: false,
			handling: 0,
			lastAnswer: null,
			logins: 0,
			endedByAnswer: false,
			nextAttemptAt: 0,
			lastAttemptAt: Number.NEGATIVE_INFINITY,
			retryAfterUntil: 0,
			core: undefined as unknown as BrokerCore,
		}
		const refresh: RefreshFunction = Object.assign((context: RefreshContext) => this.#refreshFunction(record, context), {
			logout: (context: RefreshContext) => this.#logoutFunction(context),
		})
		record.core = new BrokerCore({
			refresh,
			exchange: (_request, signal) => this.#exchangeFunction(record, signal),
			exchangeUrls: (url) => url.origin === APP,
			origin: APP,
			broadcast: (message) => this.#broadcast(record, message),
			now: () => this.now,
			random: this.#random,
			onEvent: (event) => this.#onBrokerEvent(record, event),
		})
		this.current = record
		return record
	}

	/**
	 * May the browser stop the worker now? Only when it is idle: the host holds every request it is
	 * handling (a refresh, an exchange) with event.waitUntil, and the browser stops a worker only
	 * after some 30 s without events, by which time every message to or from it has arrived.
	 */
	get workerIdle(): boolean {
		return this.current.handling === 0 && !this.current.core.busy && this.#inTransit === 0
	}

	/**
	 * The browser stops the (idle) worker, memory mode: everything it held is gone. The next event
	 * starts a fresh worker, which asks the open tabs to seed it (as sw/broker-host.ts does).
	 */
	killWorker(): void {
		const old = this.current
		old.dead = true
		for (const call of [...this.#openCalls]) if (call.owner === old) this.#closeCall(call)
		this.advance(RESTART_GAP_MS)
		const fresh = this.#startCore(null)
		this.log.push(`worker ${old.id} killed, worker ${fresh.id} started (memory lost)`)
		this.#broadcast(fresh, { type: 'seed-request' })
	}

	/** A new version takes over: the old one hands its session over (only when it is idle, as the host waits for that). */
	handOver(): void {
		const old = this.current
		const fresh = this.#startCore(old.lineage)
		fresh.core.importState(old.core.exportState())
		this.log.push(`worker ${old.id} handed over to worker ${fresh.id}`)
	}

	#refreshFunction(owner: CoreRecord, context: RefreshContext): Promise<TokenSet> {
		const call: RefreshCall = { id: this.refreshCalls.length + 1, owner, open: true }
		const credential = this.config.auth === 'body' ? context.refreshToken : this.jar
		this.refreshCalls.push({ id: call.id, core: owner.id, credential, at: this.now })
		// The gate: no attempt before the one the broker announced (2-5 s after a failure, a Retry-After, a resume).
		if (this.now < owner.nextAttemptAt) this.violation(`refresh #${call.id} by worker ${owner.id} went out ${owner.nextAttemptAt - this.now} ms before the next attempt was due`)
		owner.lastAttemptAt = this.now
		// Spec 6: an answer that can never succeed on retry ends the session; no call follows it before a login.
		if (owner.endedByAnswer) this.violation(`refresh #${call.id} by worker ${owner.id} went out after a definitive answer, before a new login`)
		const session = owner.logins
		const definitive = () => {
			owner.lastAnswer = 'definitive'
			if (owner.logins === session) owner.endedByAnswer = true
		}
		this.log.push(`refresh #${call.id} by worker ${owner.id} with ${credential ?? 'no credential'}`)
		// Invariant 5: after a logout (definitive failure or user), no refresh until the next login…
		if (owner.lineage.ended !== null) this.violation(`refresh #${call.id} called after the session ended (${owner.lineage.ended}) and before a new login`)
		// …not even by a restarted worker that forgot the logout, with a refresh token the browser still holds (cookie).
		const family = credential === undefined ? undefined : this.server.familyOfRefresh(credential)
		const endedBy = family === undefined ? undefined : this.#endedFamilies.get(family)
		let mustBeRejected = false
		if (owner.lineage.ended === null && family !== undefined && endedBy !== undefined) {
			if (this.config.auth === 'cookie' && [...endedBy].every((reason) => reason === 'refresh-rejected')) {
				this.forgottenRejections.push(`refresh #${call.id} with ${credential}`)
				mustBeRejected = true
			} else if (this.config.auth === 'cookie' && this.#keptCookieFamilies.has(family)) {
				this.keptCookies.push(`refresh #${call.id} with ${credential}`)
			} else {
				this.violation(`refresh #${call.id} by worker ${owner.id} presents ${credential}, a refresh token of a session that was logged out (worker ${owner.id} does not know of that logout)`)
			}
		}
		this.#active += 1
		this.maxActive = Math.max(this.maxActive, this.#active)
		if (this.#active > 1) this.violation(`refresh #${call.id} started while another refresh was in flight (${this.#active} in flight)`)
		this.#openCalls.add(call)
		/** Whether the server has rotated the credential for this call (its answer may still be on the way). */
		let rotated = false
		return new Promise<TokenSet>((resolve, reject) => {
			const finish = (settle: () => void) => {
				if (this.#closeCall(call)) settle()
			}
			// Like fetch: an abort ends the call at once (and its answer, if one comes, is lost).
			context.signal.addEventListener(
				'abort',
				() => {
					// The broker gave up (its hard cap) after the server rotated: it cannot learn of that rotation.
					if (call.open && rotated && credential !== undefined) this.server.rotatedUnseen.add(credential)
					if (call.open) owner.lastAnswer = 'transient'
					finish(() => reject(context.signal.reason))
				},
				{ once: true },
			)
			if (credential === undefined && this.config.auth === 'body') {
				// oauth2Refresh throws this without a network call.
				definitive()
				finish(() => reject(new RefreshRejectedError('no refresh token held', { reason: 'no-refresh-credentials' })))
				return
			}
			void this.s.schedule(Promise.resolve(), `refresh #${call.id} reaches the auth server`).then(() => {
				if (!call.open) return // aborted, or the worker is gone: the request never got there
				if (this.server.mode === 'offline') {
					owner.lastAnswer = 'transient'
					finish(() => reject(new TypeError('Failed to fetch')))
					return
				}
				if (credential === undefined) {
					definitive()
					finish(() => reject(new RefreshRejectedError('no refresh cookie', { reason: 'no-refresh-credentials', status: 401 })))
					return
				}
				const outcome = this.server.refresh(credential, this.now)
				this.log.push(`auth server: refresh #${call.id} with ${credential} → ${this.server.received.at(-1)!.result}`)
				if (mustBeRejected && outcome.ok) this.violation(`refresh #${call.id} brought back the session of ${credential}, which a definitive refresh failure had ended`)
				if (outcome.ok) rotated = true
				void this.s.schedule(Promise.resolve(), `auth server answers refresh #${call.id}`).then(() => {
					if (!call.open) {
						this.log.push(`the answer to refresh #${call.id} is lost (aborted or worker gone)`)
						return
					}
					if (outcome.ok && this.config.auth === 'cookie') this.jar = outcome.refreshToken
					if (!outcome.ok && isDefinitiveAnswer(outcome.answer)) definitive()
					else owner.lastAnswer = outcome.ok ? 'ok' : 'transient'
					// The preset's own reader classifies the answer, as in the browser.
					const response = outcome.ok ? responseOf({ status: 200 }, outcome.tokens, outcome.refreshToken) : responseOf(outcome.answer)
					finish(() => void readTokenResponse(response).then(resolve, reject))
				})
			})
		})
	}

	/**
	 * The preset's server logout: ends the session the browser holds and clears the cookie. Like a
	 * refresh, it fails while the server is unreachable or down, one aborted before it reaches the
	 * server is never processed, and one aborted after that loses its answer (the cookie stays).
	 */
	#logoutFunction(context: RefreshContext): Promise<void> {
		const credential = this.config.auth === 'body' ? context.refreshToken : this.jar
		const { signal } = context
		let answered = false
		const failed = (error: unknown, reject: (error: unknown) => void) => {
			if (answered) return
			answered = true
			const family = credential === undefined ? undefined : this.server.familyOfRefresh(credential)
			if (this.config.auth === 'cookie' && family !== undefined) this.#keptCookieFamilies.add(family)
			this.log.push(`the server logout with ${credential ?? 'no credential'} failed (${describeError(error)}): the cookie stays`)
			reject(error)
		}
		return new Promise<void>((resolve, reject) => {
			signal.addEventListener('abort', () => failed(signal.reason, reject), { once: true })
			void this.s.schedule(Promise.resolve(), 'server logout reaches the auth server').then(() => {
				if (answered) return
				if (this.server.mode === 'offline') return failed(new TypeError('Failed to fetch'), reject)
				if (this.server.mode === 'down') return failed(new Error('the logout URL answered 503'), reject)
				if (credential !== undefined) this.server.endSession(credential)
				this.log.push(`auth server: logout with ${credential ?? 'no credential'}`)
				void this.s.schedule(Promise.resolve(), 'auth server answers the logout').then(() => {
					if (answered) return
					answered = true
					if (this.config.auth === 'cookie') this.jar = undefined
					resolve()
				})
			})
		})
	}

	#closeCall(call: RefreshCall): boolean {
		if (!call.open) return false
		call.open = false
		this.#openCalls.delete(call)
		this.#active -= 1
		return true
	}

	/** The broker performs the sign-in request itself (exchange): a new token family. */
	#exchangeFunction(owner: CoreRecord, signal: AbortSignal): Promise<TokenSet> {
		return new Promise<TokenSet>((resolve, reject) => {
			signal.addEventListener('abort', () => reject(signal.reason), { once: true })
			void this.s.schedule(Promise.resolve(), 'auth server answers the exchange').then(() => {
				if (signal.aborted || owner.dead) return
				const issued = this.server.login(this.now)
				if (this.config.auth === 'cookie') this.jar = issued.refreshToken
				resolve(issued.tokens)
			})
		})
	}

	/** Checks the schedule the broker announces: spec 6's 2-5 s, Retry-After (capped at 60 s), resume. */
	#onBrokerEvent(record: CoreRecord, event: BrokerEvent): void {
		if (event.type !== 'backoff') return
		const { retryAt, delayMs, retryAfterMs } = event
		this.log.push(
			`worker ${record.id}: next attempt at +${retryAt - T0} ms (${delayMs} ms${retryAfterMs === undefined ? '' : `, Retry-After ${retryAfterMs} ms`}${event.failures === 0 ? ', resumed' : ''})`,
		)
		if (retryAt - delayMs !== this.now) this.violation(`worker ${record.id} announced an attempt at ${retryAt} that is not ${delayMs} ms from now`)
		if (event.failures > 0) {
			const floor = Math.min(retryAfterMs ?? 0, 60_000)
			if (delayMs < 2_000 || delayMs > Math.max(5_000, floor) || delayMs < floor) this.violation(`worker ${record.id} waits ${delayMs} ms after a failure (Retry-After ${retryAfterMs ?? 'none'})`)
			if (retryAfterMs !== undefined) record.retryAfterUntil = this.now + floor
		} else if (retryAt < record.lastAttemptAt + 1_000 || retryAt < record.retryAfterUntil) {
			this.violation(`worker ${record.id} resumed to an attempt at +${retryAt - T0} ms, within 1 s of the last one or before a Retry-After`)
		}
		record.nextAttemptAt = retryAt
	}

	#broadcast(from: CoreRecord, message: BrokerBroadcast): void {
		if (from.dead) return
		// A login or exchange starts the broker's wait over; so does a success (the next failure announces anew).
		if (message.type === 'token' && message.snapshot.accessToken !== null && this.server.isLoginToken(message.snapshot.accessToken)) {
			from.nextAttemptAt = 0
			from.retryAfterUntil = 0
			from.logins += 1
			from.endedByAnswer = false
		}
		// Only an answer that can never succeed on retry ends a session (spec 6).
		if (message.type === 'logout' && message.reason !== 'user' && from.lastAnswer !== 'definitive') {
			this.violation(`worker ${from.id} logged everybody out (${message.reason}) after a ${from.lastAnswer ?? 'missing'} refresh answer`)
		}
		if (message.type === 'token' && message.snapshot.accessToken !== null) {
			if (!this.#rank.has(message.snapshot.accessToken)) this.#rank.set(message.snapshot.accessToken, ++this.#sequence)
			this.#sessionFamily = this.server.familyOfAccess(message.snapshot.accessToken)
		}
		if (message.type === 'logout') {
			from.lineage.ended = message.reason
			this.#lastLogout = ++this.#sequence
			if (this.#sessionFamily !== undefined) {
				const reasons = this.#endedFamilies.get(this.#sessionFamily) ?? new Set<LogoutReason>()
				this.#endedFamilies.set(this.#sessionFamily, reasons.add(message.reason))
			}
		}
		if (message.type === 'token' && message.snapshot.accessToken !== null && this.server.isLoginToken(message.snapshot.accessToken)) from.lineage.ended = null
		this.log.push(
			`worker ${from.id} broadcasts ${message.type === 'token' ? `token ${message.snapshot.accessToken} g${message.snapshot.generation}` : message.type === 'logout' ? `logout ${message.reason} g${message.generation}` : message.type}`,
		)
		// clients.matchAll() + postMessage: per-tab FIFO, interleaved at random with everything else.
		for (const tab of this.tabs) {
			if (!tab.open) continue
			const wire = structuredClone(envelope(message))
			this.#checkNoRefreshToken(wire, `a broadcast to tab ${tab.id}`)
			tab.inbox.push(wire)
			this.#inTransit += 1
			void this.s.schedule(Promise.resolve(), `broadcast → tab ${tab.id}`).then(() => {
				this.#inTransit -= 1
				const wire = tab.inbox.shift()
				if (!tab.open) return
				const parsed = readBrokerMessage(wire)
				if (parsed.kind !== 'ok' || parsed.message.type === 'reply') {
					this.violation(`tab ${tab.id} got a broadcast it cannot parse: ${JSON.stringify(wire)}`)
					return
				}
				for (const listener of tab.listeners) listener(parsed.message)
			})
		}
	}

	/**
	 * Spec 6: a refresh request is refused at once (answered at the moment it arrived, with the
	 * time the next attempt is due) only when that attempt is not due within its time limit.
	 */
	#checkRefusal(request: BrokerRequest, error: unknown, arrived: number): void {
		if (request.type !== 'refresh' || !(error instanceof RefreshUnavailableError) || error.retryAt === undefined || this.now !== arrived) return
		const limit = Math.min(request.waitMs ?? DEFAULT_REFRESH_TIMEOUT_MS, 60_000)
		if (error.retryAt - arrived < limit) this.violation(`a refresh request was refused although the next attempt was due in ${error.retryAt - arrived} ms, within its ${limit} ms`)
	}

	/** Spec 11: the refresh token never reaches page script, not in replies, not in broadcasts. */
	#checkNoRefreshToken(wire: unknown, what: string): void {
		const text = JSON.stringify(wire)
		if (/rt-\d/.test(text) || text.includes('refreshToken')) this.violation(`${what} carries a refresh token: ${text}`)
	}

	// ---------------------------------------------------------------- the page side

	#connect(tab: Tab): BrokerConnection {
		return {
			request: (message, timeoutMs) => this.#request(tab, message, timeoutMs),
			onBroadcast: (listener) => {
				tab.listeners.add(listener)
				return () => tab.listeners.delete(listener)
			},
			close: () => {
				tab.open = false
			},
		}
	}

	/** postMessage to the worker (per-tab FIFO; it reaches whichever worker runs when it is delivered), reply on a MessagePort. */
	#request(tab: Tab, message: BrokerRequest, timeoutMs: number): Promise<TokenSnapshot> {
		const wire = structuredClone(envelope(message))
		return new Promise<TokenSnapshot>((resolve, reject) => {
			const timer = setTimeout(() => reject(new BrokerTimeoutError(message.type, timeoutMs)), timeoutMs)
			tab.outbox.push(() => {
				const parsed = parseRequest(wire)
				if (parsed.kind !== 'ok') {
					this.violation(`tab ${tab.id} sent a message the broker rejects: ${JSON.stringify(wire)}`)
					return
				}
				const worker = this.current
				this.log.push(`tab ${tab.id} → worker ${worker.id}: ${describeRequest(parsed.message)}`)
				worker.handling += 1
				const arrived = this.now
				// A check below that throws surfaces as an unhandled rejection, which fails the vitest run.
				void worker.core
					.handle(parsed.message)
					.finally(() => {
						worker.handling -= 1
					})
					.then(
						(snapshot): BrokerReply => {
							if (parsed.message.type === 'refresh' && arrived < worker.nextAttemptAt && snapshot.accessToken !== null) this.joinedScheduled += 1
							return { type: 'reply', ok: true, snapshot }
						},
						(error: unknown): BrokerReply => {
							this.#checkRefusal(parsed.message, error, arrived)
							return { type: 'reply', ok: false, error: serializeError(error) }
						},
					)
					.then((reply) => {
						if (worker.dead) return // the worker was stopped: no reply ever comes
						const replyWire = structuredClone(envelope(reply))
						this.#checkNoRefreshToken(replyWire, `a reply to tab ${tab.id}`)
						this.#inTransit += 1
						void this.s.schedule(Promise.resolve(), `reply ${message.type} → tab ${tab.id}`).then(() => {
							this.#inTransit -= 1
							clearTimeout(timer)
							const answer = readBrokerMessage(replyWire)
							if (answer.kind !== 'ok' || answer.message.type !== 'reply') {
								this.violation(`tab ${tab.id} got a reply it cannot parse: ${JSON.stringify(replyWire)}`)
								reject(new Error('unparseable reply'))
								return
							}
							this.log.push(
								`worker ${worker.id} → tab ${tab.id}: ${message.type} ${answer.message.ok ? `ok ${answer.message.snapshot.accessToken ?? 'no token'} g${answer.message.snapshot.generation}` : answer.message.error.name}`,
							)
							if (answer.message.ok) resolve(answer.message.snapshot)
							else reject(deserializeError(answer.message.error))
						})
					})
			})
			this.#inTransit += 1
			void this.s.schedule(Promise.resolve(), `tab ${tab.id} → broker`).then(() => {
				this.#inTransit -= 1
				tab.outbox.shift()?.()
			})
		})
	}

	openTab(): Tab {
		const id = this.tabs.length
		const tab = {
			id,
			open: true,
			outbox: [],
			inbox: [],
			listeners: new Set(),
			events: [],
			logouts: [],
			maxSeen: 0,
			maxSeenToken: null,
			userLogout: false,
		} as unknown as Tab
		this.tabs.push(tab)
		tab.session = tabSession(this.#connect(tab), {
			onLogout: (reason) => {
				tab.logouts.push(reason)
				this.log.push(`tab ${id} onLogout(${reason})`)
				// A tab ends its session only for a logout the broker made after the newest token the tab holds,
				// or for its own user's logout.
				if (!(reason === 'user' && tab.userLogout) && tab.maxSeenToken !== null && this.rank(tab.maxSeenToken) > this.#lastLogout) {
					this.violation(
						`tab ${id} ran onLogout(${reason}) holding ${tab.maxSeenToken}, a token the broker adopted after its last logout (the broker holds ${this.core.snapshot().accessToken ?? 'no token'})`,
					)
				}
			},
			now: () => this.now,
		})
		tab.session.subscribe((event) => {
			tab.events.push(event)
			if (event.type !== 'token') return
			tab.userLogout = false
			this.log.push(`tab ${id} has ${event.accessToken}`)
			const rank = this.rank(event.accessToken)
			// Invariant 4: a tab never goes back to an older token.
			if (rank <= tab.maxSeen) this.violation(`tab ${id} went back from ${tab.maxSeenToken} to ${event.accessToken}`)
			if (rank > tab.maxSeen) {
				tab.maxSeen = rank
				tab.maxSeenToken = event.accessToken
			}
		})
		tab.http = axios.create({ baseURL: APP, adapter: this.#api(tab) })
		attachAxios(clientOver(tab.session, Promise.resolve('service-worker'), { authorize: (url) => url.origin === APP, keepAliveMs: false }), tab.http)
		return tab
	}

	/** The API server: 200 for an access token the auth server considers live, 401 otherwise. */
	#api(tab: Tab): AxiosAdapter {
		return (config: InternalAxiosRequestConfig): Promise<AxiosResponse> => {
			const headers = AxiosHeaders.from(config.headers)
			const op = this.ops[Number(headers.get('x-op')) - 1]
			const authorization = headers.get('Authorization')
			const token = typeof authorization === 'string' && authorization.startsWith('Bearer ') ? authorization.slice(7) : null
			// The glue retries below the interceptors, with the same config: a second send of an op is its retry.
			const retry = op !== undefined && op.attempts.length > 0
			if (op !== undefined) this.#checkSent(tab, op, token, retry)
			return new Promise<AxiosResponse>((resolve, reject) => {
				const signal = config.signal as AbortSignal | undefined
				if (signal?.aborted) {
					reject(new CanceledError(undefined, undefined, config))
					return
				}
				signal?.addEventListener('abort', () => reject(new CanceledError(undefined, undefined, config)), { once: true })
				void this.s.schedule(Promise.resolve(), `API answers op ${op?.id}${retry ? ' (retry)' : ''}`).then(() => {
					const ok = token !== null && this.server.isLive(token, this.now)
					const response: AxiosResponse = { data: ok ? { ok: true } : { error: 'invalid_token' }, status: ok ? 200 : 401, statusText: ok ? 'OK' : 'Unauthorized', headers: {}, config, request: {} }
					if (ok) resolve(response)
					else reject(new AxiosError('Request failed with status code 401', AxiosError.ERR_BAD_REQUEST, config, {}, response))
				})
			})
		}
	}

	#checkSent(tab: Tab, op: Op, token: string | null, retry: boolean): void {
		const previous = op.attempts.at(-1)
		op.attempts.push({ token, retry })
		if (op.attempts.length > 2) this.violation(`op ${op.id} was sent ${op.attempts.length} times (one retry at most)`)
		if (token === null) return
		if (!this.server.knows(token)) this.violation(`op ${op.id} sent a token the auth server never issued: ${token}`)
		const rank = this.rank(token)
		// Invariant 4: never a token older than one the tab already had when the request was made.
		if (rank < op.startMax) this.violation(`tab ${tab.id} sent op ${op.id} with ${token}, older than ${op.startMaxToken} it already had`)
		// Spec 2/4: the one retry goes out with a newer token than the one that was refused.
		if (retry && previous?.token != null && rank <= this.rank(previous.token)) {
			this.violation(`tab ${tab.id} retried op ${op.id} with ${token} after ${previous.token} was refused`)
		}
	}

	// ---------------------------------------------------------------- operations

	#track(kind: OpKind, tab: Tab, run: (op: Op) => Promise<unknown>, controller?: AbortController): Op {
		const op: Op = { id: this.ops.length + 1, kind, tab: tab.id, settled: false, startMax: tab.maxSeen, startMaxToken: tab.maxSeenToken, attempts: [] }
		if (controller !== undefined) op.controller = controller
		this.ops.push(op)
		run(op).then(
			(value) => {
				op.settled = true
				op.value = value
			},
			(error: unknown) => {
				op.settled = true
				op.error = error
				if (!expectedError(kind, error)) this.violation(`op ${op.id} (${kind}, tab ${tab.id}) failed with an unexpected error: ${describeError(error)}`)
			},
		)
		return op
	}

	request(tab: Tab, abortable: boolean): Op {
		const controller = abortable ? new AbortController() : undefined
		return this.#track(
			'request',
			tab,
			(op) =>
				tab.http.get(`/api/op-${op.id}`, {
					headers: { 'x-op': String(op.id) },
					...(controller === undefined ? {} : { signal: controller.signal }),
				}),
			controller,
		)
	}

	login(tab: Tab): Op {
		return this.#track('login', tab, () => {
			const issued = this.server.login(this.now)
			if (this.config.auth === 'cookie') this.jar = issued.refreshToken
			return tab.session.login(issued.tokens)
		})
	}

	exchange(tab: Tab): Op {
		return this.#track('exchange', tab, () => tab.session.exchange({ url: `${APP}/oauth/token`, body: { grant_type: 'authorization_code', code: 'c' } }))
	}

	logout(tab: Tab): Op {
		tab.userLogout = true
		return this.#track('logout', tab, () => tab.session.logout())
	}

	ping(tab: Tab): Op {
		return this.#track('ping', tab, () => tab.session.ping())
	}

	/** What a page sends on `online` and when it becomes visible: the broker's wait starts over. */
	resume(tab: Tab): Op {
		return this.#track('resume', tab, () => this.#request(tab, { type: 'resume' }, DEFAULT_REFRESH_TIMEOUT_MS))
	}

	forceRefresh(tab: Tab): Op {
		return this.#track('refresh', tab, () => tab.session.refresh())
	}

	/** Moves the wall clock and the (fake) timers together. */
	advance(ms: number): void {
		this.now += ms
		vi.advanceTimersByTime(ms)
	}

	// ---------------------------------------------------------------- running and checking

	/** Lets every pending microtask run (setImmediate is not faked; nothing here schedules real macrotasks). */
	async settle(): Promise<void> {
		await new Promise<void>((resolve) => setImmediate(resolve))
	}

	/**
	 * Releases `count` scheduled tasks (fast-check picks which), letting microtasks run after each.
	 * Every hop takes a millisecond: the wall clock never stands still while things happen (a
	 * frozen clock would let generations, which start from the clock, run far ahead of it).
	 */
	async step(count: number): Promise<void> {
		for (let i = 0; i < count && this.s.count() > 0; i++) await this.#hop()
	}

	async #hop(): Promise<void> {
		this.advance(HOP_MS)
		await this.s.waitOne()
		await this.settle()
	}

	/**
	 * Runs everything to the end: scheduled tasks in fast-check's order, then timers (time moves
	 * on in 1 s steps only while something still waits on one). Returns when nothing is pending.
	 */
	async drain(): Promise<void> {
		await this.settle()
		for (let guard = 0; guard < 5_000; guard++) {
			if (this.s.count() > 0) {
				await this.#hop()
				continue
			}
			if (this.ops.every((op) => op.settled)) return
			if (vi.getTimerCount() === 0) return
			this.advance(1_000)
			await this.settle()
		}
		this.violation('the world did not come to rest')
	}

	/** Checks that hold at every moment. */
	checkInvariants(): void {
		if (this.#active > 1) this.violation(`${this.#active} refreshes in flight`)
		if (this.server.reuse.length > 0) this.violation(`the auth server saw refresh tokens presented twice: ${this.server.reuse.join(', ')}`)
		for (const tab of this.tabs) {
			const token = tab.session.accessToken
			if (token !== null && this.rank(token) < tab.maxSeen) this.violation(`tab ${tab.id} holds ${token} after having ${tab.maxSeenToken}`)
		}
	}

	/** Checks for the end of a run, once drained: nothing hangs, nothing failed with a surprise. */
	checkQuiescent(): void {
		this.checkInvariants()
		for (const op of this.ops) if (!op.settled) this.violation(`op ${op.id} (${op.kind}, tab ${op.tab}) never settled`)
		if (this.#active !== 0) this.violation(`${this.#active} refresh calls still open at rest`)
		// Spec 9: logins, refreshes and logouts reach every tab; at rest the tabs agree with the broker.
		const state = this.core.exportState()
		for (const tab of this.tabs) {
			const token = tab.session.accessToken
			if (state.ended !== null && token !== null) this.violation(`at rest the broker is logged out (${state.ended}) but tab ${tab.id} still holds ${token}`)
			if (state.tokens !== null && token !== null && token !== state.tokens.accessToken) this.violation(`at rest tab ${tab.id} holds ${token} but the broker holds ${state.tokens.accessToken}`)
		}
	}

	summary(): string {
		const ops = this.ops.map(
			(op) =>
				`  op ${op.id} ${op.kind} tab ${op.tab}: ${!op.settled ? 'PENDING' : op.error === undefined ? 'ok' : describeError(op.error)}${op.attempts.length > 0 ? ` sent with ${op.attempts.map((a) => a.token ?? 'none').join(' then ')}` : ''}`,
		)
		return [
			`config: ${JSON.stringify(this.config)}`,
			`refresh calls: ${this.refreshCalls.length} (at most ${this.maxActive} at once), auth server refreshes: ${JSON.stringify(this.server.received)}`,
			'log:',
			...this.log.map((line) => `  ${line}`),
			'ops:',
			...ops,
		].join('\n')
	}
}
