/**
 * The app with sw-token-broker: a fresh document holds no token, so its first API call waits for
 * the worker's answer to hello. Wired as the README shows, with the interceptor apps write.
 */
import axios from 'axios'
import { createTokenClient } from '../../src/index.js'
import { attachAxios } from '../../src/axios.js'
import { registration, report } from './shared.js'

const scriptAt = performance.now()
const client = createTokenClient({
	serviceWorker: registration.then((registered) => registered ?? Promise.reject(new Error('no service worker'))),
	onLogout: (reason) => Object.assign(window, { __pageLoadLogout: reason }),
})
const api = axios.create()
attachAxios(client, api)
api.interceptors.response.use((response) => response.data)
report(scriptAt, api.get('/api/data'))
