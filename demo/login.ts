import { LoginFailedError } from 'sw-token-broker'
import { redirectUri } from './idp.js'
import type { OpenIdProvider } from './idp.js'
import { client, connected, cookieMode, idp } from './setup.js'

// The sign-in's own answer and its broadcast both arrive here: navigate once.
let leaving = false
const goToApp = () => {
	if (leaving) return
	leaving = true
	location.assign(`/${location.search}`)
}

// A sign-in in any other tab reaches this one too.
client.subscribe((event) => {
	if (event.type === 'token') goToApp()
})

const form = document.getElementById('login') as HTMLFormElement
const showError = (error: unknown) => {
	const message = error instanceof LoginFailedError && error.status === 401 ? 'Wrong user or password (try demo / demo).' : String(error instanceof Error ? error.message : error)
	;(document.getElementById('error') as HTMLElement).textContent = message
}

/** Where the code + PKCE sign-in keeps its verifier between leaving for the provider and coming back. */
const PENDING_SIGN_IN = 'swtb-demo-oidc-sign-in'
const base64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
const randomString = () => base64url(crypto.getRandomValues(new Uint8Array(32)))

async function signInAtProvider(provider: OpenIdProvider): Promise<void> {
	const pending = { verifier: randomString(), state: randomString() }
	sessionStorage.setItem(PENDING_SIGN_IN, JSON.stringify(pending))
	const challenge = base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(pending.verifier))))
	const authorization = new URL(provider.authorizationEndpoint)
	authorization.search = new URLSearchParams({
		client_id: provider.clientId,
		response_type: 'code',
		// offline_access asks for a refresh token; OpenID Connect grants it only with prompt=consent.
		scope: 'openid offline_access',
		prompt: 'consent',
		redirect_uri: redirectUri(provider),
		code_challenge: challenge,
		code_challenge_method: 'S256',
		state: pending.state,
	}).toString()
	location.assign(authorization.href)
}

/** Back from the provider: the broker redeems the code, so the refresh token never enters this page. */
async function finishSignIn(provider: OpenIdProvider, answer: URLSearchParams): Promise<void> {
	const pending = JSON.parse(sessionStorage.getItem(PENDING_SIGN_IN) ?? 'null') as { verifier: string; state: string } | null
	sessionStorage.removeItem(PENDING_SIGN_IN)
	// The code stays out of the history; the mode (?idp=…) stays in the URL.
	history.replaceState(null, '', `/login?${new URLSearchParams([...answer].filter(([key]) => !['code', 'state', 'iss', 'error', 'error_description'].includes(key)))}`)
	if (answer.has('error')) throw new Error(`The provider refused the sign-in: ${answer.get('error')} ${answer.get('error_description') ?? ''}`)
	if (pending === null || answer.get('state') !== pending.state) throw new Error('This sign-in answer was not started in this tab; sign in again.')
	await client.exchange({
		url: provider.tokenEndpoint,
		body: { grant_type: 'authorization_code', code: answer.get('code') ?? '', code_verifier: pending.verifier, redirect_uri: redirectUri(provider), client_id: provider.clientId },
	})
	goToApp()
}

if (idp !== undefined) {
	for (const label of form.querySelectorAll('label')) label.hidden = true
	form.querySelector('button')!.textContent = 'Sign in at the OpenID provider'
	const answer = new URLSearchParams(location.search)
	if (answer.has('code') || answer.has('error')) finishSignIn(idp, answer).catch(showError)
}

/** A text field's value; FormData also holds files, which this form has none of. */
const field = (data: FormData, name: string) => {
	const value = data.get(name)
	return typeof value === 'string' ? value : ''
}

form.addEventListener('submit', (event) => {
	event.preventDefault()
	if (idp !== undefined) return void signInAtProvider(idp).catch(showError)
	const data = new FormData(form)
	const body: Record<string, string> = { username: field(data, 'username'), password: field(data, 'password') }
	if (cookieMode) body.mode = 'cookie'
	client.exchange({ url: '/auth/login', body }).then(goToApp, showError)
})

if (await client.getAccessToken().catch(() => null)) goToApp()

Object.assign(window, { swtbDemo: { client, connected } })
