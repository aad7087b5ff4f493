import { LoginFailedError } from 'sw-token-broker'
import { client, connected, cookieMode } from './setup.js'

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
form.addEventListener('submit', async (event) => {
	event.preventDefault()
	const data = new FormData(form)
	const body: Record<string, string> = { username: String(data.get('username')), password: String(data.get('password')) }
	if (cookieMode) body.mode = 'cookie'
	try {
		await client.exchange({ url: '/auth/login', body })
		goToApp()
	} catch (error) {
		const message = error instanceof LoginFailedError && error.status === 401 ? 'Wrong user or password (try demo / demo).' : String(error instanceof Error ? error.message : error)
		;(document.getElementById('error') as HTMLElement).textContent = message
	}
})

if (await client.getAccessToken().catch(() => null)) goToApp()

Object.assign(window, { swtbDemo: { client, connected } })
