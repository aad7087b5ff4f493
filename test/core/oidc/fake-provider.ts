import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { type IncomingMessage, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

/** What the fake's next ID token gets wrong, to name each check the broker must make. */
export interface IdTokenFault {
	nonce?: string
	aud?: string
	iss?: string
	/** Seconds from now; negative: already expired. */
	expiresIn?: number
}

/**
 * A small OpenID provider on 127.0.0.1 for the core's unit tests: discovery, an authorization
 * endpoint that answers at once with a code (no pages), a token endpoint that checks PKCE and
 * signs RS256 ID tokens, revocation and end-session. Every token-endpoint request is counted.
 */
export async function startFakeProvider() {
	const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
	const codes = new Map<string, { challenge: string; nonce: string; redirectUri: string }>()
	const tokenRequests: Array<Record<string, string>> = []
	const revoked: string[] = []
	const state = { tokenEndpoint: undefined as string | undefined, fault: undefined as IdTokenFault | undefined, refreshIdToken: false, name: 'Ada', sendIss: true }
	let issuer = ''
	const base64url = (value: string | Buffer) => Buffer.from(value).toString('base64url')
	const idToken = (nonce: string | undefined, fault: IdTokenFault = {}) => {
		const now = Math.floor(Date.now() / 1000)
		const claims = {
			iss: fault.iss ?? issuer,
			sub: 'user-1',
			aud: fault.aud ?? 'app',
			iat: now,
			exp: now + (fault.expiresIn ?? 300),
			name: state.name,
			...(nonce === undefined ? {} : { nonce: fault.nonce ?? nonce }),
		}
		const input = `${base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'k1' }))}.${base64url(JSON.stringify(claims))}`
		return `${input}.${base64url(sign('sha256', Buffer.from(input), privateKey))}`
	}
	const read = (req: IncomingMessage) =>
		new Promise<string>((resolve) => {
			let body = ''
			req.on('data', (chunk) => (body += chunk))
			req.on('end', () => resolve(body))
		})
	const server = createServer(
		(req, res) =>
			void (async () => {
				const url = new URL(req.url ?? '/', issuer)
				const send = (status: number, body: unknown) => {
					res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
					res.end(JSON.stringify(body))
				}
				if (url.pathname === '/.well-known/openid-configuration') {
					return send(200, {
						issuer,
						authorization_endpoint: `${issuer}/auth`,
						token_endpoint: state.tokenEndpoint ?? `${issuer}/token`,
						revocation_endpoint: `${issuer}/revoke`,
						end_session_endpoint: `${issuer}/end`,
						jwks_uri: `${issuer}/jwks`,
						response_types_supported: ['code'],
						id_token_signing_alg_values_supported: ['RS256'],
						code_challenge_methods_supported: ['S256'],
						authorization_response_iss_parameter_supported: state.sendIss,
					})
				}
				if (url.pathname === '/revoke' && req.method === 'POST') {
					revoked.push(new URLSearchParams(await read(req)).get('token') ?? '')
					res.writeHead(200).end()
					return
				}
				if (url.pathname !== '/token' || req.method !== 'POST') return send(404, { error: 'not_found' })
				const form = Object.fromEntries(new URLSearchParams(await read(req)))
				tokenRequests.push(form)
				if (form.grant_type === 'refresh_token') {
					return send(200, {
						access_token: `at-${randomBytes(4).toString('hex')}`,
						token_type: 'Bearer',
						expires_in: 60,
						refresh_token: `rt-${randomBytes(4).toString('hex')}`,
						...(state.refreshIdToken ? { id_token: idToken(undefined) } : {}),
					})
				}
				const code = codes.get(form.code ?? '')
				codes.delete(form.code ?? '')
				const challenge = createHash('sha256')
					.update(form.code_verifier ?? '')
					.digest('base64url')
				if (code === undefined || code.challenge !== challenge || code.redirectUri !== form.redirect_uri) return send(400, { error: 'invalid_grant' })
				const fault = state.fault
				state.fault = undefined
				send(200, {
					access_token: `at-${randomBytes(4).toString('hex')}`,
					token_type: 'Bearer',
					expires_in: 60,
					refresh_token: `rt-${randomBytes(4).toString('hex')}`,
					id_token: idToken(code.nonce, fault),
				})
			})(),
	)
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
	issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
	return {
		get issuer() {
			return issuer
		},
		state,
		tokenRequests,
		revoked,
		/** The provider's answer to an authorization URL, as its redirect would carry it. */
		authorize(authorizationUrl: string, answer: { iss?: string; error?: string; state?: string } = {}): string {
			const request = new URL(authorizationUrl).searchParams
			const redirect = new URL(request.get('redirect_uri') ?? '')
			redirect.searchParams.set('state', answer.state ?? request.get('state') ?? '')
			if (state.sendIss || answer.iss !== undefined) redirect.searchParams.set('iss', answer.iss ?? issuer)
			if (answer.error !== undefined) {
				redirect.searchParams.set('error', answer.error)
				return redirect.href
			}
			const code = randomBytes(8).toString('hex')
			codes.set(code, { challenge: request.get('code_challenge') ?? '', nonce: request.get('nonce') ?? '', redirectUri: request.get('redirect_uri') ?? '' })
			redirect.searchParams.set('code', code)
			return redirect.href
		},
		close: () =>
			new Promise<void>((resolve) => {
				server.close(() => resolve())
				server.closeAllConnections()
			}),
	}
}

export type FakeProvider = Awaited<ReturnType<typeof startFakeProvider>>
