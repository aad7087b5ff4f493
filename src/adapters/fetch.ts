import { RequestNotReplayableError } from '../core/errors/request-not-replayable-error.js'
import type { AuthorizedSender } from '../session/authorized-send.js'

/** The request is ours (made from the caller's input) and not sent yet, so its headers can take the token in place. */
function withToken(request: Request, token: string | null, proof?: string): Request {
	if (token !== null) request.headers.set('Authorization', `${proof === undefined ? 'Bearer' : 'DPoP'} ${token}`)
	if (proof !== undefined) request.headers.set('DPoP', proof)
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
		let sent: Promise<Response> | undefined
		const send = (token: string | null) => sender.send<Response>({
			token,
			signal: request.signal,
			method: request.method,
			url: request.url,
			send(current, proof) {
				const previous = sent
				// Sent again only after the answer was refused (a 401, a DPoP nonce): it is not the caller's any more, so free its connection.
				void previous?.then((answer) => answer.body?.cancel()).catch(() => undefined)
				// A copy of the spare each time: a DPoP nonce and a refresh may each send it once more.
				sent = fetch(withToken(previous === undefined ? request : spare.clone(), current, proof))
				return sent
			},
			refused(outcome) {
				if (!outcome.ok || outcome.value.status !== 401) return false
				return outcome.value.url === '' || sender.authorizes(outcome.value.url)
			},
			cannotRetry: replayable ? undefined : () => {
				throw new RequestNotReplayableError()
			},
		})
		const token = sender.tokenNow()
		return token === undefined ? sender.token(request.signal).then(send) : send(token)
	}
}
