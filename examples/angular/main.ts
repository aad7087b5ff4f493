// A JIT build: Angular's compiler runs in the page (see docs/frameworks.md for why this example is built so).
import '@angular/compiler'
import { HttpClient, HttpErrorResponse, type HttpInterceptorFn, HttpResponse, provideHttpClient, withFetch, withInterceptors } from '@angular/common/http'
import { Component, Injectable, inject, signal } from '@angular/core'
import { bootstrapApplication } from '@angular/platform-browser'
import { firstValueFrom, tap } from 'rxjs'
import { tokenInterceptor } from 'sw-token-broker/angular'
import { type Data, client, fire, signIn } from '../client.js'

/** The app's own interceptor, listed before tokenInterceptor: it counts what comes back, one response or error per call it must be. */
const seen = { responses: 0 }
const countingInterceptor: HttpInterceptorFn = (request, next) =>
	next(request).pipe(
		tap({
			next: (event) => {
				if (event instanceof HttpResponse) seen.responses += 1
			},
			error: (error: unknown) => {
				if (error instanceof HttpErrorResponse) seen.responses += 1
			},
		}),
	)

class ApiError extends Error {
	override readonly name = 'ApiError'

	constructor(readonly status: number) {
		super(`API answered ${status}`)
	}
}

@Injectable({ providedIn: 'root' })
class Api {
	readonly #http = inject(HttpClient)

	get(path: string): Promise<Data> {
		return firstValueFrom(this.#http.get<Data>(path)).catch((error: unknown) => {
			throw error instanceof HttpErrorResponse ? new ApiError(error.status) : error
		})
	}
}

@Component({
	selector: 'app-root',
	template: `
		<p>
			State: <strong id="state">{{ status() }}</strong>
		</p>
		@if (status() === 'signed-in') {
			<section class="card actions">
				<h2>Data</h2>
				<p id="data">{{ data() }}</p>
				<button id="load" (click)="load()">Load</button>
				<button id="logout" (click)="logout()">Log out</button>
			</section>
		} @else if (status() === 'signed-out') {
			<button id="sign-in" (click)="signIn()">Sign in</button>
		} @else {
			<p>Connecting…</p>
		}
	`,
})
class App {
	readonly #api = inject(Api)
	readonly status = signal(client.state.status)
	readonly data = signal('…')

	constructor() {
		client.subscribe(() => this.status.set(client.state.status))
	}

	load(): void {
		this.#api.get('/api/data').then(
			(loaded) => this.data.set(`data #${loaded.n}`),
			(error: Error) => this.data.set(`error: ${error.name}`),
		)
	}

	signIn(): void {
		void signIn()
	}

	logout(): void {
		void client.logout()
	}
}

const backend = new URLSearchParams(location.search).get('backend') === 'fetch' ? [withFetch()] : []
const app = await bootstrapApplication(App, {
	providers: [provideHttpClient(...backend, withInterceptors([countingInterceptor, tokenInterceptor(client)]))],
})
const api = app.injector.get(Api)
Object.assign(window, { swtbExample: { fire: (count: number) => fire(count, (path) => api.get(path)), responses: () => seen.responses } })
