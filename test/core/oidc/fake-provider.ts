import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { type IncomingMessage, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { dpopVerifier } from '../../../server/dpop-verifier.js'

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
 * With `state.dpop` set it is a DPoP server (RFC 9449 §5): every token and revocation request
 * must carry a valid proof (and its nonce, with `requireNonce`), and tokens are bound to the key.
 */
export async function startFakeProvider() {
	const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
	const codes = new Map<string, { challenge: string; nonce: string; redirectUri: string }>()
	const tokenRequests: Array<Record<string, string>> = []
	const revoked: string[] = []
	const state = {
		tokenEndpoint: undefined as string | undefined,
		fault: undefined as IdTokenFault | undefined,
		refreshIdToken: false,
		name: 'Ada',
		sendIss: true,
		dpop: undefined as { requireNonce?: boolean } | undefined,
	}
	const verifier = dpopVerifier()
	const DPOP_NONCE = 'fake-nonce-1'
	/** Every request to /token and /revoke in DPoP mode: its proof's key (undefined: refused) and the answer's status. */
	const proofs: Array<{ path: string; grant?: string; jkt?: string; status: number; error?: string }> = []
	/** Which key each refresh token is bound to. */
	const boundTo = new Map<string, string | undefined>()
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
				if ((url.pathname !== '/token' && url.pathname !== '/revoke') || req.method !== 'POST') return send(404, { error: 'not_found' })
				const form = Object.fromEntries(new URLSearchParams(await read(req)))
				let jkt: string | undefined
				if (state.dpop !== undefined) {
					const verdict = await verifier.verify(req.headers.dpop as string | undefined, { method: 'POST', url: `${issuer}${url.pathname}`, ...(state.dpop.requireNonce ? { nonce: DPOP_NONCE } : {}) })
					proofs.push({
						path: url.pathname,
						...(form.grant_type === undefined ? {} : { grant: form.grant_type }),
						...(verdict.ok ? { jkt: verdict.jkt } : { error: verdict.error }),
						status: verdict.ok ? 200 : 400,
					})
					if (!verdict.ok) {
						res.writeHead(400, { 'content-type': 'application/json', ...(verdict.error === 'use_dpop_nonce' ? { 'dpop-nonce': DPOP_NONCE } : {}) })
						res.end(JSON.stringify({ error: verdict.error }))
						return
					}
					jkt = verdict.jkt
				}
				const tokenType = jkt === undefined ? 'Bearer' : 'DPoP'
				const refreshToken = () => {
					const token = `rt-${randomBytes(4).toString('hex')}`
					boundTo.set(token, jkt)
					return token
				}
				if (url.pathname === '/revoke') {
					revoked.push(form.token ?? '')
					res.writeHead(200).end()
					return
				}
				tokenRequests.push(form)
				if (form.grant_type === 'refresh_token') {
					// RFC 9449 §5: a public client's refresh token is bound to the key that got it.
					if (state.dpop !== undefined && boundTo.get(form.refresh_token ?? '') !== jkt) return send(400, { error: 'invalid_grant' })
					return send(200, {
						access_token: `at-${randomBytes(4).toString('hex')}`,
						token_type: tokenType,
						expires_in: 60,
						refresh_token: refreshToken(),
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
				send(200, { access_token: `at-${randomBytes(4).toString('hex')}`, token_type: tokenType, expires_in: 60, refresh_token: refreshToken(), id_token: idToken(code.nonce, fault) })
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
		proofs,
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
