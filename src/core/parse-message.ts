import { ProtocolError } from './errors/protocol-error.js'
import { type BrokerBroadcast, type BrokerRequest, type ExchangeRequest, type HeldTokens, type LogoutReason, MAX_WAIT_MS, type PeerMessage, PROTOCOL_VERSION, type Parsed, type SessionState, type TokenSet, type TokenSnapshot } from './protocol.js'

/**
 * Validation of the protocol where it is a trust boundary: what the broker acts on (requests
 * from pages, sessions from its predecessor or from other tabs, its own stored session). Every
 * field is checked and copied, so nothing malformed or hostile reaches the core.
 */

const MAX_TOKEN_LENGTH = 16_384
const MAX_URL_LENGTH = 4_096
const MAX_JSON_LENGTH = 65_536
const MAX_FIELDS = 64
const LOGOUT_REASONS: ReadonlySet<string> = new Set(['refresh-rejected', 'no-refresh-credentials', 'user', 'remote'])

type Fields = Record<string, unknown>

function isRecord(value: unknown): value is Fields {
	return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function string(data: Fields, key: string, max = MAX_TOKEN_LENGTH): string {
	const value = data[key]
	if (typeof value !== 'string' || value.length === 0 || value.length > max) {
		throw new ProtocolError(`"${key}" must be a non-empty string of at most ${max} characters`)
	}
	return value
}

function optionalNumber(data: Fields, key: string): number | undefined {
	const value = data[key]
	if (value === undefined) return undefined
	if (typeof value !== 'number' || !Number.isFinite(value)) throw new ProtocolError(`"${key}" must be a finite number`)
	return value
}

function number(data: Fields, key: string): number {
	const value = optionalNumber(data, key)
	if (value === undefined) throw new ProtocolError(`"${key}" is required`)
	return value
}

/** Copies string fields into a fresh object; Object.fromEntries defines own properties, so "__proto__" cannot pollute. */
function stringMap(value: unknown, key: string): Record<string, string> {
	if (!isRecord(value)) throw new ProtocolError(`"${key}" must be an object of strings`)
	const entries = Object.entries(value)
	if (entries.length > MAX_FIELDS) throw new ProtocolError(`"${key}" has more than ${MAX_FIELDS} fields`)
	for (const [name, field] of entries) {
		if (typeof field !== 'string' || field.length > MAX_TOKEN_LENGTH || name.length > 256) {
			throw new ProtocolError(`"${key}.${name.slice(0, 40)}" must be a string`)
		}
	}
	return Object.fromEntries(entries as [string, string][])
}

/** A token set as a page hands it in (`expiresIn`) or as brokers hand it over (`issuedAt`). */
function tokenFields(value: unknown, what: string, time: 'expiresIn' | 'issuedAt'): TokenSet & HeldTokens {
	if (!isRecord(value)) throw new ProtocolError(`"${what}" must be an object`)
	const tokens: TokenSet & HeldTokens = { accessToken: string(value, 'accessToken') }
	if (value.refreshToken !== undefined) tokens.refreshToken = string(value, 'refreshToken')
	for (const key of ['expiresAt', time] as const) {
		const field = optionalNumber(value, key)
		if (field !== undefined) tokens[key] = field
	}
	return tokens
}

/** A JSON body for an exchange: what JSON.stringify can write, within MAX_JSON_LENGTH. */
function jsonValue(value: unknown): unknown {
	let text: string | undefined
	try {
		text = JSON.stringify(value)
	} catch {
		throw new ProtocolError('"json" cannot be written as JSON')
	}
	if (text === undefined || text.length > MAX_JSON_LENGTH) throw new ProtocolError(`"json" must be a JSON value of at most ${MAX_JSON_LENGTH} characters`)
	return JSON.parse(text)
}

function snapshot(value: unknown): TokenSnapshot {
	if (!isRecord(value)) throw new ProtocolError('"snapshot" must be an object')
	const accessToken = value.accessToken === null ? null : string(value, 'accessToken')
	const result: TokenSnapshot = { accessToken, generation: number(value, 'generation') }
	const expiresAt = optionalNumber(value, 'expiresAt')
	if (expiresAt !== undefined) result.expiresAt = expiresAt
	const issuedAt = optionalNumber(value, 'issuedAt')
	if (issuedAt !== undefined) result.issuedAt = issuedAt
	return result
}

function sessionState(value: unknown): SessionState {
	if (!isRecord(value)) throw new ProtocolError('"state" must be an object')
	return {
		tokens: value.tokens === null ? null : tokenFields(value.tokens, 'tokens', 'issuedAt'),
		generation: number(value, 'generation'),
		ended: value.ended === null ? null : logoutReason({ reason: value.ended }),
	}
}

/** Stored sessions are input like any message: a stale or tampered record must not break the broker. */
export function parseSessionState(value: unknown): SessionState | undefined {
	try {
		return sessionState(value)
	} catch (error) {
		if (error instanceof ProtocolError) return undefined
		throw error
	}
}

function logoutReason(data: Fields): LogoutReason {
	const reason = data.reason
	if (typeof reason !== 'string' || !LOGOUT_REASONS.has(reason)) throw new ProtocolError('"reason" is not a logout reason')
	return reason as LogoutReason
}

function parseWith<T>(data: unknown, read: (data: Fields, type: string) => T): Parsed<T> {
	if (!isRecord(data) || data.swtb === undefined) return { kind: 'ignore' }
	try {
		if (data.swtb !== PROTOCOL_VERSION) {
			const version = typeof data.swtb === 'number' || typeof data.swtb === 'string' ? String(data.swtb).slice(0, 20) : typeof data.swtb
			throw new ProtocolError(`protocol version ${version} is not ${PROTOCOL_VERSION}`)
		}
		if (typeof data.type !== 'string') throw new ProtocolError('"type" is missing')
		return { kind: 'ok', message: read(data, data.type) }
	} catch (error) {
		if (error instanceof ProtocolError) return { kind: 'invalid', error }
		throw error
	}
}

/** Validates a message a page sent to the broker. */
export function parseRequest(data: unknown): Parsed<BrokerRequest> {
	return parseWith(data, (fields, type): BrokerRequest => {
		switch (type) {
			case 'hello':
			case 'ping':
			case 'resume':
				return { type }
			case 'refresh': {
				const refresh: BrokerRequest = { type, failedToken: fields.failedToken === null ? null : string(fields, 'failedToken') }
				const waitMs = optionalNumber(fields, 'waitMs')
				if (waitMs !== undefined) {
					if (waitMs < 0 || waitMs > MAX_WAIT_MS) throw new ProtocolError(`"waitMs" must be between 0 and ${MAX_WAIT_MS}`)
					refresh.waitMs = waitMs
				}
				return refresh
			}
			case 'login':
				return { type, tokens: tokenFields(fields.tokens, 'tokens', 'expiresIn') }
			case 'exchange': {
				const request = fields.request
				if (!isRecord(request)) throw new ProtocolError('"request" must be an object')
				const exchange: ExchangeRequest = { url: string(request, 'url', MAX_URL_LENGTH) }
				if (request.body !== undefined && request.json !== undefined) throw new ProtocolError('an exchange sends "body" or "json", not both')
				if (request.body !== undefined) exchange.body = stringMap(request.body, 'body')
				if (request.json !== undefined) exchange.json = jsonValue(request.json)
				if (request.headers !== undefined) exchange.headers = stringMap(request.headers, 'headers')
				return { type, request: exchange }
			}
			case 'logout':
				return { type, tab: string(fields, 'tab', 64) }
			case 'seed': {
				const seed: BrokerRequest = { type, accessToken: string(fields, 'accessToken'), generation: number(fields, 'generation') }
				const expiresAt = optionalNumber(fields, 'expiresAt')
				if (expiresAt !== undefined) seed.expiresAt = expiresAt
				return seed
			}
			default:
				throw new ProtocolError(`unknown request type "${type.slice(0, 40)}"`)
		}
	})
}

function broadcast(fields: Fields, type: string): BrokerBroadcast {
	switch (type) {
		case 'token':
			return { type, snapshot: snapshot(fields.snapshot) }
		case 'seed-request':
			return { type }
		case 'logout': {
			const logout: BrokerBroadcast = { type, reason: logoutReason(fields), generation: number(fields, 'generation') }
			if (fields.tab !== undefined) logout.tab = string(fields, 'tab', 64)
			return logout
		}
		default:
			throw new ProtocolError(`unknown broker message type "${type.slice(0, 40)}"`)
	}
}

/** Validates a message between brokers: a session hand-over, or a request for one. */
export function parsePeerMessage(data: unknown): Parsed<PeerMessage> {
	return parseWith(data, (fields, type): PeerMessage => {
		switch (type) {
			case 'session-request':
				return { type }
			case 'session': {
				const message: PeerMessage = { type, state: sessionState(fields.state) }
				const carried = fields.broadcast
				if (carried !== undefined) {
					if (!isRecord(carried) || typeof carried.type !== 'string') throw new ProtocolError('"broadcast" must be a broker message')
					message.broadcast = broadcast(carried, carried.type)
				}
				return message
			}
			default:
				throw new ProtocolError(`unknown peer message type "${type.slice(0, 40)}"`)
		}
	})
}
