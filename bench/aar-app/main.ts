/**
 * The baseline the library is measured against: an app wired the way axios-auth-refresh's
 * README shows, with the OAuth tokens in localStorage so every tab shares them. Each tab
 * refreshes on its own; with refresh-token rotation, tabs reuse each other's spent tokens.
 */
import axios from 'axios'
import { createAuthRefresh } from 'axios-auth-refresh'

/** axios-auth-refresh's types see axios through its CommonJS typings, ours through the ESM ones: same object, two type identities. */
const asRefreshTarget = (instance: unknown) => instance as Parameters<typeof createAuthRefresh>[0]

interface TokenResponse {
	access_token: string
	refresh_token?: string
}

const ACCESS_TOKEN = 'access_token'
const REFRESH_TOKEN = 'refresh_token'

function store(tokens: TokenResponse): void {
	localStorage.setItem(ACCESS_TOKEN, tokens.access_token)
	if (tokens.refresh_token !== undefined) localStorage.setItem(REFRESH_TOKEN, tokens.refresh_token)
}

const api = axios.create()

// README "Request interceptor": read the token when sending, so stalled requests pick up the new one.
api.interceptors.request.use((request) => {
	const token = localStorage.getItem(ACCESS_TOKEN)
	if (token !== null) request.headers.Authorization = `Bearer ${token}`
	return request
})

// README "Usage": the refresh call goes through the global axios, which has no interceptors.
createAuthRefresh(asRefreshTarget(api), async (failedRequest: { response: { config: { headers: Record<string, string> } } }) => {
	const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: localStorage.getItem(REFRESH_TOKEN) ?? '', client_id: 'demo' })
	const response = await axios.post<TokenResponse>('/oauth/token', body)
	store(response.data)
	failedRequest.response.config.headers.Authorization = `Bearer ${response.data.access_token}`
})

/** Starts a new session (a fresh refresh-token family), so an earlier revoked one does not carry over. */
async function login(): Promise<void> {
	const response = await axios.post<TokenResponse>('/auth/login', { username: 'demo', password: 'demo' })
	store(response.data)
}

Object.assign(window, { aarBench: { api, login } })
