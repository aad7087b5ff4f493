import { HttpClient, provideHttpClient, withFetch, withInterceptors } from '@angular/common/http'
import { createApplication } from '@angular/platform-browser'
import { tokenInterceptor } from 'sw-token-broker/angular'
import { client } from './client.js'

/** An Angular app's HttpClient with sw-token-broker/angular's interceptor in its chain (no component: nothing to compile). */
const app = await createApplication({ providers: [provideHttpClient(withFetch(), withInterceptors([tokenInterceptor(client)]))] })
app.injector
	.get(HttpClient)
	.get<{ ok: boolean }>('/api/data')
	.subscribe((data) => console.log(data.ok))
