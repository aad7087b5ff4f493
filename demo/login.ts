import { LoginFailedError } from 'sw-token-broker'
import { client, connected, cookieMode, idp } from './setup.js'

// The sign-in's own answer and its broadcast both arrive here: navigate once.
let leaving = false
const goToApp = (returnTo = `/${location.search}`) => {
	if (leaving) return
	leaving = true
	location.assign(returnTo)
}

/** A provider's answer in the URL: this page completes it and goes where the sign-in said. */
const callback = idp !== undefined && ['code', 'error'].some((key) => new URLSearchParams(location.search).has(key))

// A sign-in in any other tab reaches this one too.
client.subscribe((event) => {
	if (event.type === 'token' && !callback) goToApp()
})

const form = document.getElementById('login') as HTMLFormElement
const showError = (error: unknown) => {
	const message = error instanceof LoginFailedError && error.status === 401 ? 'Wrong user or password (try demo / demo).' : String(error instanceof Error ? error.message : error)
	;(document.getElementById('error') as HTMLElement).textContent = message
}

/**
 * Back from the provider at the redirect URI: the broker checks the answer and redeems the code,
 * so neither the verifier nor the refresh token enters this page.
 */
async function finishSignIn(): Promise<void> {
	const callback = location.href
	// The code and state stay out of the history; the mode (?idp=…) stays in the URL.
	const kept = [...new URLSearchParams(location.search)].filter(([key]) => !['code', 'state', 'iss', 'error', 'error_description', 'session_state'].includes(key))
	history.replaceState(null, '', `/login?${new URLSearchParams(kept)}`)
	const { returnTo } = await client.completeSignIn(callback)
	goToApp(returnTo)
}

if (idp !== undefined) {
	for (const label of form.querySelectorAll('label')) label.hidden = true
	form.querySelector('button')!.textContent = 'Sign in at the OpenID provider'
	if (callback) finishSignIn().catch(showError)
}

/** A text field's value; FormData also holds files, which this form has none of. */
const field = (data: FormData, name: string) => {
	const value = data.get(name)
	return typeof value === 'string' ? value : ''
}

form.addEventListener('submit', (event) => {
	event.preventDefault()
	if (idp !== undefined) return void client.signIn({ returnTo: `/${location.search}` }).catch(showError)
	const data = new FormData(form)
	const body: Record<string, string> = { username: field(data, 'username'), password: field(data, 'password') }
	if (cookieMode) body.mode = 'cookie'
	client.exchange({ url: '/auth/login', body }).then(() => goToApp(), showError)
})

if (!callback && (await client.getAccessToken().catch(() => null))) goToApp()

Object.assign(window, { swtbDemo: { client, connected } })
