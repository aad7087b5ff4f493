import { Workbox } from 'workbox-window'

/** What each page reports: times in ms since its navigation started (performance.timeOrigin). */
export interface PageLoadMark {
	/** When the page's script began to run. */
	scriptAt: number
	/** When the first authorized API response was in the app's hands. */
	responseAt: number
	ok: boolean
	error?: string
}

const query = new URLSearchParams(location.search)

/**
 * Both pages register the demo's worker as a PWA does, with the broker mode of the bench's
 * context (?persist=indexeddb): the baseline differs from the library's page only in how it gets
 * its token, so the difference between them is what the library adds to a page load.
 */
export const registration = new Workbox(`/sw.js${query.get('persist') === 'indexeddb' ? '?persist=indexeddb' : ''}`).register()

export function report(scriptAt: number, data: Promise<unknown>): void {
	const mark = (ok: boolean, error?: string) => {
		const result: PageLoadMark = { scriptAt, responseAt: performance.now(), ok, ...(error === undefined ? {} : { error }) }
		Object.assign(window, { __pageLoad: result })
	}
	data.then(
		(body) => ((body as { ok?: unknown } | null)?.ok === true ? mark(true) : mark(false, `unexpected data ${JSON.stringify(body)}`)),
		(error: unknown) => mark(false, error instanceof Error ? `${error.name}: ${error.message}` : String(error)),
	)
}
