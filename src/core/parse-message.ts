import { ProtocolError } from './errors/protocol-error.js'
import { asRecord } from './record.js'
import { type BrokerRequest, MAX_WAIT_MS, type PeerMessage, PROTOCOL_VERSION, type Parsed, type SessionState } from './protocol.js'

/**
 * Validation of the protocol where it is a trust boundary: what the broker acts on (requests
 * from pages, sessions from its predecessor or from other tabs, its own stored session). Every
 * field is checked and copied, so nothing malformed or hostile reaches the core.
 *
 * Each message type is a table of field checks rather than code of its own: one reader walks
 * them all, which keeps the worker small and every field's rule in one line.
 */

const MAX_TOKEN_LENGTH = 16_384
const MAX_URL_LENGTH = 4_096
const MAX_JSON_LENGTH = 65_536
const MAX_FIELDS = 64
const LOGOUT_REASONS: ReadonlySet<unknown> = new Set(['refresh-rejected', 'no-refresh-credentials', 'user', 'remote'])

type Fields = Record<string, unknown>
/** Checks one field, named by its path for the error, and returns the copy to keep. */
type Check = (value: unknown, path: string) => unknown
/** A key starting with "?" is optional: absent (undefined) it stays absent. */
type Shape = Record<string, Check>

function fail(problem: string): never {
	throw new ProtocolError(problem)
}

function record(value: unknown, path: string): Fields {
	return asRecord(value) ?? fail(`"${path}" must be an object`)
}

const string =
	(max: number): Check =>
	(value, path) =>
		typeof value === 'string' && value.length > 0 && value.length <= max ? value : fail(`"${path}" must be a non-empty string of at most ${max} characters`)

const token = string(MAX_TOKEN_LENGTH)
const tab = string(64)

const finite: Check = (value, path) => (Number.isFinite(value) ? value : fail(`"${path}" must be a finite number`))

const orNull =
	(check: Check): Check =>
	(value, path) =>
		value === null ? null : check(value, path)

const reason: Check = (value, path) => (LOGOUT_REASONS.has(value) ? value : fail(`"${path}" is not a logout reason`))

/** Copies string fields into a fresh object; Object.fromEntries defines own properties, so "__proto__" cannot pollute. */
const stringMap: Check = (value, path) => {
	const entries = Object.entries(asRecord(value) ?? fail(`"${path}" must be an object of strings`))
	if (entries.length > MAX_FIELDS) fail(`"${path}" has more than ${MAX_FIELDS} fields`)
	for (const [name, field] of entries) {
		if (typeof field !== 'string' || field.length > MAX_TOKEN_LENGTH || name.length > 256) fail(`"${path}.${name.slice(0, 40)}" must be a string`)
	}
	return Object.fromEntries(entries)
}

/** A JSON body for an exchange: what JSON.stringify can write, within MAX_JSON_LENGTH. */
const json: Check = (value, path) => {
	let text: string | undefined
	try {
		text = JSON.stringify(value)
	} catch {
		fail(`"${path}" cannot be written as JSON`)
	}
	return text !== undefined && text.length <= MAX_JSON_LENGTH ? JSON.parse(text) : fail(`"${path}" must be a JSON value of at most ${MAX_JSON_LENGTH} characters`)
}

/** Copies the fields a shape names, each checked; nothing else is kept. */
function fields(data: Fields, shape: Shape, path: string): Fields {
	const copy: Fields = {}
	for (const [key, check] of Object.entries(shape)) {
		const name = key.replace('?', '')
		const value = data[name]
		if (value !== undefined || key === name) copy[name] = check(value, path ? `${path}.${name}` : name)
	}
	return copy
}

const object =
	(shape: Shape): Check =>
	(value, path) =>
		fields(record(value, path), shape, path)

/** A message of one of the shapes in `types`, by its "type" field: own keys only, so "__proto__" is no type. */
const message =
	(types: Record<string, Shape>, what: string): Check =>
	(value, path) => {
		const data = record(value, path)
		const type = data.type
		if (typeof type !== 'string') fail(`"${path ? `${path}.` : ''}type" is missing`)
		if (!Object.hasOwn(types, type)) fail(`unknown ${what} type "${type.slice(0, 40)}"`)
		return { type, ...fields(data, types[type]!, path) }
	}

/** ID token claims: a JSON object. */
const claims: Check = (value, path) => (asRecord(value) !== undefined ? json(value, path) : fail(`"${path}" must be an object of claims`))

const tokenType = string(32)

/** A token set as a page hands it in (`expiresIn`: no ID token, a page cannot set the user) or as brokers hand it over (`issuedAt`). */
const tokens = (time: 'expiresIn' | 'issuedAt'): Check =>
	object({
		accessToken: token,
		'?refreshToken': token,
		'?expiresAt': finite,
		[`?${time}`]: finite,
		'?tokenType': tokenType,
		...(time === 'issuedAt' ? { '?idToken': token, '?user': claims } : {}),
	})

const text = string(MAX_URL_LENGTH)

// Pure: the page side reads only peer messages, so its bundle drops the request table.
const REQUESTS: Record<string, Shape> = {
	hello: {},
	ping: {},
	resume: {},
	refresh: {
		failedToken: /* @__PURE__ */ orNull(token),
		'?waitMs': (value, path) => (typeof value === 'number' && value >= 0 && value <= MAX_WAIT_MS ? value : fail(`"${path}" must be a number between 0 and ${MAX_WAIT_MS}`)),
		'?generation': finite,
	},
	login: { tokens: /* @__PURE__ */ tokens('expiresIn') },
	exchange: {
		request: (value, path) => {
			const request = object({ url: string(MAX_URL_LENGTH), '?body': stringMap, '?json': json, '?headers': stringMap })(value, path) as Fields
			return request.body !== undefined && request.json !== undefined ? fail('an exchange sends "body" or "json", not both') : request
		},
	},
	logout: { tab, '?endSession': (value, path) => (typeof value === 'boolean' ? value : fail(`"${path}" must be true or false`)) },
	'sign-in': { options: /* @__PURE__ */ object({ '?returnTo': text, '?prompt': text, '?loginHint': text, '?params': stringMap }) },
	'complete-sign-in': { url: text },
	seed: { accessToken: token, generation: finite, '?expiresAt': finite, '?issuedAt': finite, '?tokenType': tokenType },
}

const sessionState = object({ tokens: orNull(tokens('issuedAt')), generation: finite, ended: orNull(reason) })

const PEER_MESSAGES: Record<string, Shape> = {
	'session-request': {},
	session: {
		state: sessionState,
		'?broadcast': message(
			{
				token: { snapshot: object({ accessToken: orNull(token), generation: finite, '?expiresAt': finite, '?issuedAt': finite, '?user': claims }) },
				'seed-request': {},
				logout: { reason, generation: finite, '?tab': tab },
			},
			'broker message',
		),
	},
}

/** Stored sessions are input like any message: a stale or tampered record must not break the broker. */
export function parseSessionState(value: unknown): SessionState | undefined {
	try {
		return sessionState(value, 'state') as SessionState
	} catch (error) {
		if (error instanceof ProtocolError) return undefined
		throw error
	}
}

function parseWith<T>(data: unknown, types: Record<string, Shape>, what: string): Parsed<T> {
	const received = asRecord(data)
	if (received?.swtb === undefined) return { kind: 'ignore' }
	try {
		const { swtb } = received
		if (swtb !== PROTOCOL_VERSION) {
			const version = typeof swtb === 'number' || typeof swtb === 'string' ? String(swtb).slice(0, 20) : typeof swtb
			fail(`protocol version ${version} is not ${PROTOCOL_VERSION}`)
		}
		return { kind: 'ok', message: message(types, what)(received, '') as T }
	} catch (error) {
		if (error instanceof ProtocolError) return { kind: 'invalid', error }
		throw error
	}
}

/** Validates a message a page sent to the broker. */
export function parseRequest(data: unknown): Parsed<BrokerRequest> {
	return parseWith(data, REQUESTS, 'request')
}

/** Validates a message between brokers: a session hand-over, or a request for one. */
export function parsePeerMessage(data: unknown): Parsed<PeerMessage> {
	return parseWith(data, PEER_MESSAGES, 'peer message')
}
