import { type AxiosAdapter, type AxiosInstance, type AxiosResponse, type InternalAxiosRequestConfig, AxiosHeaders, CanceledError, getAdapter } from 'axios'
import { type AuthorizedSender, type Outcome, senderOf } from '../session/authorized-send.js'
import { isExpiredTokenAnswer } from './expired-token.js'

/** Marks our wrapper, so a config sent again (an app's own retry) is not wrapped twice. */
const INNER = '__swTokenBrokerInner'

type Wrapped = AxiosAdapter & { [INNER]?: InternalAxiosRequestConfig['adapter'] }

const ABSOLUTE_URL = /^([a-z][a-z\d+\-.]*:)?\/\//i

/** The URL axios will request, as its buildFullPath joins baseURL and url (query params do not change the origin). */
function requestUrl(config: InternalAxiosRequestConfig): string {
	const url = config.url ?? ''
	const { baseURL } = config
	if (!baseURL || (ABSOLUTE_URL.test(url) && config.allowAbsoluteUrls !== false)) return url
	return url === '' ? baseURL : `${baseURL.replace(/\/?\/$/, '')}/${url.replace(/^\/+/, '')}`
}

/** On an authorized URL the broker's token is the credential: it replaces any Authorization header the app set (docs/adapters.md). */
function withToken(config: InternalAxiosRequestConfig, token: string | null | undefined, proof?: string): InternalAxiosRequestConfig {
	if (token != null) config.headers.set('Authorization', `${proof === undefined ? 'Bearer' : 'DPoP'} ${token}`)
	if (proof !== undefined) config.headers.set('DPoP', proof)
	return config
}

/** The header our interceptor set, on a request that no longer goes where authorize allows; a credential the app set there stays. */
function withoutToken(config: InternalAxiosRequestConfig, token: string | null | undefined): InternalAxiosRequestConfig {
	if (token != null && config.headers.get('Authorization') === `Bearer ${token}`) config.headers.delete('Authorization')
	return config
}

/** axios's fetch adapter takes fetch options; such a request may outlive the page, so it does not wait for an early refresh. */
function isKeepalive(config: InternalAxiosRequestConfig): boolean {
	return (config as { fetchOptions?: { keepalive?: unknown } }).fetchOptions?.keepalive === true
}

function cancelled(config: InternalAxiosRequestConfig, error: unknown): unknown {
	return config.signal?.aborted ? new CanceledError(undefined, undefined, config) : error
}

function isRefused(sender: AuthorizedSender, outcome: Outcome<AxiosResponse>): boolean {
	const response = outcome.ok ? outcome.value : (outcome.error as { response?: AxiosResponse } | null)?.response
	if (response?.status !== 401) return false
	const challenge = AxiosHeaders.from(response.headers as AxiosHeaders).get('WWW-Authenticate')
	if (!isExpiredTokenAnswer(typeof challenge === 'string' ? challenge : undefined)) return false
	// After a redirect the 401 may come from an origin we never sent the token to: not ours to refresh.
	const finalUrl = (response.request as { responseURL?: unknown } | undefined)?.responseURL
	return typeof finalUrl !== 'string' || finalUrl === '' || sender.authorizes(finalUrl)
}

/**
 * The axios glue. A request interceptor adds the token (waiting for a refresh when it is about to
 * expire); the refresh and the one retry happen around the instance's adapter, below every
 * interceptor, so the app's own interceptors, in either order, see one response or error per call.
 */
export function attachAxios(client: object, instance: AxiosInstance): () => void {
	const sender = senderOf(client)

	/**
	 * `token`: what the interceptor set; undefined when none was fresh then (or its URL was not
	 * authorized), and the adapter waits for one. The adapter sees the config as it goes out, after
	 * every interceptor: an app's interceptor that ran after ours (registered before attachAxios) may
	 * have moved it to another host, so it is authorized here again, for the first send and the retry.
	 */
	const retrying = (inner: InternalAxiosRequestConfig['adapter'], token: string | null | undefined): Wrapped => {
		const adapter: Wrapped = (config) => {
			const signal = config.signal as AbortSignal | undefined
			// getAdapter returns a function as it is; names ('fetch') depend on the config (its env.fetch).
			const send = typeof inner === 'function' ? inner : getAdapter(inner, config)
			const url = requestUrl(config)
			if (!sender.authorizes(url)) return send(withoutToken(config, token))
			const attempt = (first: string | null) =>
				sender.send<AxiosResponse>({
					token: first,
					signal,
					method: config.method ?? 'get',
					url,
					send: (current, proof) => send(withToken(config, current, proof)),
					refused: (outcome) => isRefused(sender, outcome),
				})
			return (token === undefined ? sender.tokenForRequest(signal).then(attempt) : attempt(token)).catch((error: unknown) => {
				throw cancelled(config, error)
			})
		}
		adapter[INNER] = inner
		return adapter
	}

	const authorized = (config: InternalAxiosRequestConfig, token: string | null | undefined): InternalAxiosRequestConfig => {
		config.adapter = retrying((config.adapter as Wrapped | undefined)?.[INNER] ?? config.adapter, token)
		return withToken(config, token)
	}
	const fresh = (config: InternalAxiosRequestConfig) => sender.tokenNow(isKeepalive(config)) !== undefined
	// The hot path, a valid token in memory: synchronous, so axios chains no promise through the
	// interceptors. Should the token stop being fresh between runWhen and here, the adapter waits.
	// A URL not authorized here still gets the adapter: an interceptor after ours may move it.
	const now = instance.interceptors.request.use((config) => authorized(config, sender.authorizes(requestUrl(config)) ? sender.tokenNow(isKeepalive(config)) : undefined), undefined, {
		synchronous: true,
		runWhen: fresh,
	})
	// The first sync, or a refresh ahead of expiry: the token is awaited here, so the app's later interceptors see it.
	const later = instance.interceptors.request.use(
		(config) =>
			!sender.authorizes(requestUrl(config))
				? authorized(config, undefined)
				: sender.tokenForRequest(config.signal as AbortSignal | undefined).then(
						(token) => authorized(config, token),
						(error: unknown) => {
							throw cancelled(config, error)
						},
					),
		undefined,
		{ runWhen: (config) => !fresh(config) },
	)
	return () => {
		instance.interceptors.request.eject(now)
		instance.interceptors.request.eject(later)
	}
}
