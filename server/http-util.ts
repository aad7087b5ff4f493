import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'

export type Body = Record<string, unknown>

const MAX_BODY_BYTES = 1024 * 1024

/** Thrown by handlers to answer with a JSON error. */
export class HttpError extends Error {
	constructor(
		readonly status: number,
		readonly body: object,
		readonly headers: OutgoingHttpHeaders = {},
	) {
		super(`HTTP ${status}`)
	}
}

export function badRequest(description: string): HttpError {
	return new HttpError(400, { error: 'invalid_request', error_description: description })
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
	sendText(res, status, 'application/json; charset=utf-8', JSON.stringify(body), headers)
}

export function sendText(res: ServerResponse, status: number, contentType: string, text: string, headers: OutgoingHttpHeaders = {}): void {
	res.writeHead(status, {
		'Content-Type': contentType,
		'Content-Length': Buffer.byteLength(text),
		'Cache-Control': 'no-store',
		...headers,
	})
	res.end(text)
}

export function parseRequestUrl(req: IncomingMessage): URL {
	try {
		return new URL(req.url ?? '/', 'http://localhost')
	} catch {
		throw badRequest('malformed request target')
	}
}

/**
 * Parses a JSON or form-urlencoded body. A body without a JSON content type that still looks like
 * a JSON object is read as JSON, because fetch() sends a string body as text/plain by default.
 */
export async function readBody(req: IncomingMessage): Promise<Body> {
	const text = (await readRawBody(req)).toString('utf8')
	if (text.trim() === '') return {}
	const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
	const isForm = type === 'application/x-www-form-urlencoded'
	const isJson = type === 'application/json' || type.endsWith('+json') || (!isForm && text.trimStart().startsWith('{'))
	return isJson ? parseJsonObject(text) : Object.fromEntries(new URLSearchParams(text))
}

export function stringField(body: Body, key: string): string | undefined {
	const value = body[key]
	return typeof value === 'string' ? value : undefined
}

export function readCookie(req: IncomingMessage, name: string): string | undefined {
	for (const pair of (req.headers.cookie ?? '').split(';')) {
		const eq = pair.indexOf('=')
		if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim() || undefined
	}
	return undefined
}

export function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string | undefined> {
	return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : value]))
}

function readRawBody(req: IncomingMessage): Promise<Buffer> {
	return new Promise((resolve, reject) => {
		if (Number(req.headers['content-length']) > MAX_BODY_BYTES) {
			reject(payloadTooLarge())
			return
		}
		const chunks: Buffer[] = []
		let size = 0
		req.on('data', (chunk: Buffer) => {
			size += chunk.length
			// Past the cap we keep draining but drop the data; the 413 answer closes the connection.
			if (size > MAX_BODY_BYTES) reject(payloadTooLarge())
			else chunks.push(chunk)
		})
		req.on('end', () => resolve(Buffer.concat(chunks)))
		req.on('error', reject)
	})
}

function payloadTooLarge(): HttpError {
	return new HttpError(413, { error: 'payload_too_large' }, { Connection: 'close' })
}

function parseJsonObject(text: string): Body {
	let value: unknown
	try {
		value = JSON.parse(text)
	} catch {
		throw badRequest('malformed JSON body')
	}
	if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('body must be a JSON object')
	return value as Body
}
