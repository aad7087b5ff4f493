import { type AxiosAdapter, type AxiosInstance, type AxiosResponse, type InternalAxiosRequestConfig, CanceledError, getAdapter } from 'axios'
import { type AuthorizedSender, type Outcome, senderOf } from '../session/authorized-send.js'

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

function withToken(config: InternalAxiosRequestConfig, token: string | null): InternalAxiosRequestConfig {
	if (token !== null) config.headers.set('Authorization', `Bearer ${token}`)
	return config
}

function cancelled(config: InternalAxiosRequestConfig, error: unknown): unknown {
	return config.signal?.aborted ? new CanceledError(undefined, undefined, config) : error
}

function isRefused(sender: AuthorizedSender, outcome: Outcome<AxiosResponse>): boolean {
	const response = outcome.ok ? outcome.value : (outcome.error as { response?: AxiosResponse } | null)?.response
	if (response?.status !== 401) return false
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

	const retrying = (inner: InternalAxiosRequestConfig['adapter'], token: string | null): Wrapped => {
		const adapter: Wrapped = (config) => {
			const send = getAdapter(inner, config)
			return sender.send<AxiosResponse>({
				token,
				signal: config.signal as AbortSignal | undefined,
				send: (current) => send(withToken(config, current)),
				refused: (outcome) => isRefused(sender, outcome),
			}).catch((error: unknown) => {
				throw cancelled(config, error)
			})
		}
		adapter[INNER] = inner
		return adapter
	}

	const onRequest = (config: InternalAxiosRequestConfig): InternalAxiosRequestConfig | Promise<InternalAxiosRequestConfig> => {
		if (!sender.authorizes(requestUrl(config))) return config
		const inner = (config.adapter as Wrapped | undefined)?.[INNER] ?? config.adapter
		const send = (token: string | null) => {
			config.adapter = retrying(inner, token)
			return withToken(config, token)
		}
		// The hot path: a valid token in memory, no await, no message.
		const token = sender.tokenNow()
		if (token !== undefined) return send(token)
		return sender.token(config.signal as AbortSignal | undefined).then(send, (error: unknown) => {
			throw cancelled(config, error)
		})
	}

	const id = instance.interceptors.request.use(onRequest)
	return () => instance.interceptors.request.eject(id)
}
