import { RequestNotReplayableError } from '../core/errors/request-not-replayable-error.js'
import type { AuthorizedSender } from '../session/authorized-send.js'
import { isExpiredTokenAnswer } from './expired-token.js'

/**
 * For APIs that report an expired token inside a 200 (GraphQL: `errors[].extensions.code ===
 * 'UNAUTHENTICATED'`): true makes client.fetch treat the answer as a 401. It gets a clone, so
 * reading its body leaves the caller's readable.
 */
export type IsUnauthorized = (response: Response) => boolean | Promise<boolean>

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
export function authorizedFetch(sender: AuthorizedSender, isUnauthorized?: IsUnauthorized): (input: RequestInfo | URL, init?: RequestInit) => Promise<Response> {
	/** First answers the app's predicate took for an expired token, though their status is not 401. */
	const flagged = new WeakSet<Response>()
	const ask = async (response: Response) => {
		// A predicate that throws (a body that is not JSON, say) has not recognised an expired token: the caller gets the answer as it came.
		try {
			if (await isUnauthorized!(response.clone())) flagged.add(response)
		} catch {
			// As not flagged.
		}
		return response
	}
	return (input, init) => {
		if (!sender.authorizes(input instanceof Request ? input.url : String(input))) return fetch(input, init)
		const request = new Request(input, init)
		const replayable = !(init?.body instanceof ReadableStream)
		// Without a body there is nothing a send uses up: the retry copies the request itself.
		const spare = request.body !== null && replayable ? request.clone() : request
		let sent: Promise<Response> | undefined
		const send = (token: string | null) =>
			sender.send<Response>({
				token,
				signal: request.signal,
				method: request.method,
				url: request.url,
				send(current, proof) {
					const previous = sent
					// Sent again only after the answer was refused (a 401, a DPoP nonce): it is not the caller's any more, so free its connection.
					void previous?.then((answer) => answer.body?.cancel()).catch(() => undefined)
					// A copy of the spare each time: a DPoP nonce and a refresh may each send it once more.
					const response = fetch(withToken(previous === undefined ? request : spare.clone(), current, proof))
					// Only first answers are asked: a retry's answer goes to the caller whatever it says (no second refresh).
					sent = previous === undefined && isUnauthorized ? response.then(ask) : response
					return sent
				},
				refused(outcome) {
					if (!outcome.ok) return false
					const answer = outcome.value
					const expired = answer.status === 401 ? isExpiredTokenAnswer(answer.headers.get('WWW-Authenticate')) : flagged.has(answer)
					if (!expired) return false
					return answer.url === '' || sender.authorizes(answer.url)
				},
				cannotRetry: replayable
					? undefined
					: () => {
							throw new RequestNotReplayableError()
						},
			})
		// A keepalive request (a beacon as the page unloads) does not wait for a renewal ahead of expiry.
		const token = sender.tokenNow(request.keepalive)
		return token === undefined ? sender.tokenForRequest(request.signal).then(send) : send(token)
	}
}
