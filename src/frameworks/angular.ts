import { HttpErrorResponse, type HttpEvent, HttpEventType, type HttpInterceptorFn, type HttpResponse } from '@angular/common/http'
import { Observable, type Subscription } from 'rxjs'
import { isExpiredTokenAnswer } from '../adapters/expired-token.js'
import { type AuthorizedSender, type Outcome, senderOf } from '../session/authorized-send.js'

type Answer = HttpResponse<unknown> | null

function isRefused(sender: AuthorizedSender, outcome: Outcome<Answer>): boolean {
	if (outcome.ok || !(outcome.error instanceof HttpErrorResponse) || outcome.error.status !== 401) return false
	if (!isExpiredTokenAnswer(outcome.error.headers.get('WWW-Authenticate'))) return false
	// After a redirect the 401 may come from an origin we never sent the token to: not ours to refresh.
	return outcome.error.url === null || sender.authorizes(outcome.error.url)
}

/**
 * The Angular glue, for `provideHttpClient(withInterceptors([..., tokenInterceptor(client)]))`:
 * the token on authorized requests (waiting for a refresh when it is about to expire), and on a
 * 401 one refresh for all tabs and one retry, as `attachAxios` does. Interceptors listed before
 * it see one response or error per call, the one after any refresh and retry; list it last.
 * Unsubscribing aborts the request and leaves the refresh to the others waiting on it.
 */
export function tokenInterceptor(client: object): HttpInterceptorFn {
	const sender = senderOf(client)
	return (request, next) => {
		if (!sender.authorizes(request.urlWithParams)) return next(request)
		return new Observable<HttpEvent<unknown>>((subscriber) => {
			const aborted = new AbortController()
			let inner: Subscription | undefined
			/** Settles a trip cut short by unsubscription: every request the session counts must settle. */
			let abandon: ((reason: unknown) => void) | undefined
			let sentReported = false
			/** One trip down the chain: progress passes on as it comes; the answer settles the trip, to be refused or passed on. */
			const send = (token: string | null, proof?: string) =>
				new Promise<Answer>((resolve, reject) => {
					abandon = reject
					const headers: Record<string, string> = proof === undefined ? { Authorization: `Bearer ${token}` } : { Authorization: `DPoP ${token}`, DPoP: proof }
					inner = next(token === null ? request : request.clone({ setHeaders: headers })).subscribe({
						next(event) {
							if (event.type === HttpEventType.Response) return resolve(event)
							// A retry's Sent would tell the interceptors above of a second request they never made.
							if (event.type === HttpEventType.Sent && sentReported) return
							sentReported ||= event.type === HttpEventType.Sent
							subscriber.next(event)
						},
						error: reject,
						// A chain that completes without an answer (an interceptor below returned EMPTY) completes here too.
						complete: () => resolve(null),
					})
				})
			const attempt = (token: string | null) =>
				sender.send<Answer>({ token, signal: aborted.signal, method: request.method, url: request.urlWithParams, send, refused: (outcome) => isRefused(sender, outcome) })
			const token = sender.tokenNow()
			void (token === undefined ? sender.tokenForRequest(aborted.signal).then(attempt) : attempt(token)).then(
				(answer) => {
					if (answer !== null) subscriber.next(answer)
					subscriber.complete()
				},
				(error: unknown) => subscriber.error(error),
			)
			return () => {
				aborted.abort()
				inner?.unsubscribe()
				abandon?.(aborted.signal.reason)
			}
		})
	}
}
