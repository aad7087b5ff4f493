/**
 * The baseline: the same app holding its access token in memory from the start (handed in by
 * the bench in the URL's fragment), so its first API call goes out at once.
 */
import axios from 'axios'
import { report } from './shared.js'

const scriptAt = performance.now()
const token = new URLSearchParams(location.hash.slice(1)).get('token')
const api = axios.create()
api.interceptors.request.use((config) => {
	config.headers.Authorization = `Bearer ${token}`
	return config
})
api.interceptors.response.use((response) => response.data)
report(scriptAt, api.get('/api/data'))
