import { type AxiosInstance, type AxiosResponse, type InternalAxiosRequestConfig, CanceledError, isAxiosError } from 'axios'
import type { TabSession } from '../session/tab-session.js'
import { abortable } from '../session/tab-session.js'

/**
 * What the glue keeps on a request: plain keys on its config, because axios and other
 * interceptors copy configs by their own keys, so an object's identity does not survive.
 */
const RETRIED = '__swTokenBrokerRetry'
/** The token the request went out with, so a 401 can be told apart from an already-replaced token. */
const SENT_WITH = '__swTokenBrokerSentWith'
/** Set while the request counts as in flight for the wait before onLogout; cleared when it ends, so it ends once. */
const IN_FLIGHT = '__swTokenBrokerInFlight'

type Config = InternalAxiosRequestConfig & { [RETRIED]?: true; [SENT_WITH]?: string | null; [IN_FLIGHT]?: boolean }

const ABSOLUTE_URL = /^([a-z][a-z\d+\-.]*:)?\/\//i

/** The URL axios will request, as its buildFullPath joins baseURL and url (query params do not change the origin). */
function requestUrl(config: Config): string {
	const url = config.url ?? ''
	const { baseURL } = config
	if (!baseURL || (ABSOLUTE_URL.test(url) && config.allowAbsoluteUrls !== false)) return url
	return url === '' ? baseURL : `${baseURL.replace(/\/?\/$/, '')}/${url.replace(/^\/+/, '')}`
}

function cancelled(config: Config, error: unknown): unknown {
	return config.signal?.aborted ? new CanceledError(undefined, undefined, config) : error
}

/**
 * The axios glue: a request interceptor that adds the bearer token where `authorize` allows,
 * and a response interceptor that turns a 401 into one broker refresh and one retry.
 */
export function attachInterceptors(instance: AxiosInstance, session: TabSession, authorize: (url: URL) => boolean, base: () => string): () => void {
	const allowed = (url: string): boolean => {
		try {
			return authorize(new URL(url, base()))
		} catch {
			return false
		}
	}
	// The hot path: instance.getUri() would merge the whole config again on every request.
	const authorized = (config: Config): boolean => allowed(requestUrl(config))
	const send = (config: Config, token: string | null): Config => {
		config[SENT_WITH] = token
		// A retried config still carries the refused header: without a token it must go.
		if (token === null) config.headers.delete('Authorization')
		else config.headers.set('Authorization', `Bearer ${token}`)
		return config
	}

	const settled = (config: Config | undefined) => {
		if (config?.[IN_FLIGHT] !== true) return
		config[IN_FLIGHT] = false
		session.requestSettled()
	}

	const onRequest = (config: Config): Config | Promise<Config> => {
		if (!authorized(config)) return config
		config[IN_FLIGHT] = true
		session.requestStarted()
		// The hot path: a valid token in memory, no await, no message.
		const token = session.freshToken()
		if (token !== undefined) return send(config, token)
		return session.tokenForRequest(config.signal as AbortSignal | undefined).then(
			(fresh) => send(config, fresh),
			(error: unknown) => {
				settled(config)
				throw cancelled(config, error)
			},
		)
	}

	const onResponse = (response: AxiosResponse): AxiosResponse => {
		// An app interceptor registered earlier may already have turned the response into its data.
		settled((response as Partial<AxiosResponse> | null | undefined)?.config)
		return response
	}

	const onResponseError = async (error: unknown): Promise<unknown> => {
		const config = isAxiosError(error) ? error.config as Config | undefined : undefined
		try {
			return await refreshAndRetry(error, config)
		} finally {
			settled(config)
		}
	}

	const refreshAndRetry = async (error: unknown, config: Config | undefined): Promise<unknown> => {
		if (!isAxiosError(error) || error.response?.status !== 401) throw error
		if (config === undefined || config[RETRIED] === true || config[SENT_WITH] === undefined) throw error
		// After a redirect the 401 may come from an origin we never sent the token to: not ours to refresh.
		const finalUrl = (error.request as { responseURL?: unknown } | undefined)?.responseURL
		if (typeof finalUrl === 'string' && finalUrl !== '' && !allowed(finalUrl)) throw error
		const signal = config.signal as AbortSignal | undefined
		let fresh: string | null
		try {
			fresh = (await abortable(session.refreshAfter(config[SENT_WITH]), signal)).accessToken
		} catch (refreshError) {
			throw cancelled(config, refreshError)
		}
		if (fresh === null) throw error
		const retry: Config = { ...config, [RETRIED]: true, [IN_FLIGHT]: false }
		return instance.request(retry)
	}

	const requestId = instance.interceptors.request.use(onRequest)
	const responseId = instance.interceptors.response.use(onResponse, onResponseError)
	return () => {
		instance.interceptors.request.eject(requestId)
		instance.interceptors.response.eject(responseId)
	}
}
