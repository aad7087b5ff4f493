import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startDevAuthServer } from './dev-auth-server.js'
import type { DevAuthServer, DevAuthServerOptions } from './dev-auth-server.js'

// At runtime this file is dist/server/demo.js, so the repo root is two levels up.
const root = fileURLToPath(new URL('../../', import.meta.url))
const staticDir = join(root, 'dist-demo')
const preferredPort = Number(process.env.PORT) || 5173
const options: DevAuthServerOptions = {
	staticDir,
	accessTtlMs: Number(process.env.ACCESS_TTL_MS) || 10_000,
	log: true,
}

async function start(): Promise<DevAuthServer> {
	try {
		return await startDevAuthServer({ ...options, port: preferredPort })
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error
		console.warn(`Port ${preferredPort} is busy; using a free port instead.`)
		return startDevAuthServer({ ...options, port: 0 })
	}
}

async function warnIfDemoNotBuilt(): Promise<void> {
	try {
		await access(join(staticDir, 'index.html'))
	} catch {
		console.warn(`No demo build in ${staticDir}; run "npx vite build" first.`)
	}
}

const server = await start()
await warnIfDemoNotBuilt()
console.log(`sw-token-broker demo: open ${server.url}/ in several tabs (demo / demo). Ctrl+C to stop.`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
	process.once(signal, () => {
		server.close().then(
			() => process.exit(0),
			(error: unknown) => {
				console.error(error)
				process.exit(1)
			},
		)
	})
}
