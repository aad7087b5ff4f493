import { RequestNotReplayableError } from '../core/errors/request-not-replayable-error.js'
import type { AuthorizedSender } from '../session/authorized-send.js'
import { isExpiredTokenAnswer } from './expired-token.js'

/** The request is ours (made from the caller's input) and not sent yet, so its headers can take the token in place. */
function withToken(request: Request, token: string | null): Request {
	if (token !== null) request.headers.set('Authorization', `Bearer ${token}`)
	return request
}

/**
 * client.fetch: a fetch with the broker's token, for fetch itself and for wrappers that take a
 * fetch (ky, ofetch, openapi-fetch). A request with a body is cloned before it goes out, so the
 * body is sent again on the retry; a stream body cannot be, and says so rather than go out empty.
 */
export function authorizedFetch(sender: AuthorizedSender): (input: RequestInfo | URL, init?: RequestInit) => Promise<Response> {
	return (input, init) => {
		if (!sender.authorizes(input instanceof Request ? input.url : String(input))) return fetch(input, init)
		const request = new Request(input, init)
		const replayable = !(init?.body instanceof ReadableStream)
		// Without a body there is nothing a send uses up: the retry copies the request itself.
		const spare = request.body !== null && replayable ? request.clone() : request
		let refused: Response | undefined
		const send = (token: string | null) => sender.send<Response>({
			token,
			signal: request.signal,
			send(current) {
				if (refused === undefined) return fetch(withToken(request, current))
				// The refused answer is not the caller's any more: free its connection.
				void refused.body?.cancel().catch(() => undefined)
				return fetch(withToken(new Request(spare), current))
			},
			refused(outcome) {
				if (!outcome.ok || outcome.value.status !== 401 || !isExpiredTokenAnswer(outcome.value.headers.get('WWW-Authenticate'))) return false
				if (outcome.value.url !== '' && !sender.authorizes(outcome.value.url)) return false
				refused = outcome.value
				return true
			},
			cannotRetry: replayable ? undefined : () => {
				throw new RequestNotReplayableError()
			},
		})
		// A keepalive request (a beacon as the page unloads) does not wait for a renewal ahead of expiry.
		const token = sender.tokenNow(request.keepalive)
		return token === undefined ? sender.tokenForRequest(request.signal).then(send) : send(token)
	}
}
