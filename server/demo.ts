import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startDevAuthServer } from './dev-auth-server.js'
import type { DevAuthServer, DevAuthServerOptions } from './dev-auth-server.js'
import { startOidcProvider } from '../testing/oidc-provider.js'
import type { OidcProvider } from '../testing/oidc-provider.js'

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

/**
 * IDP=oidc: the demo signs in at a real OpenID provider (oidc-provider) and the worker refreshes
 * there; the dev server still serves the app, and its API checks the provider's tokens.
 */
async function startProvider(app: DevAuthServer): Promise<OidcProvider> {
	const provider = await startOidcProvider({
		accessTtlMs: options.accessTtlMs,
		// As demo/idp.ts builds it: the ?idp= query keeps the returning tab in this mode.
		redirectUris: (issuer) => [`${app.url}/login?idp=${encodeURIComponent(issuer)}`, `${app.url}/login?idp=${encodeURIComponent(issuer)}&dpop=1`],
		postLogoutRedirectUris: (issuer) => [`${app.url}/login?idp=${encodeURIComponent(issuer)}`, `${app.url}/login?idp=${encodeURIComponent(issuer)}&dpop=1`],
	})
	app.useIssuer(provider)
	return provider
}

const server = await start()
await warnIfDemoNotBuilt()
const provider = process.env.IDP === 'oidc' ? await startProvider(server) : undefined
if (provider === undefined) {
	console.log(`sw-token-broker demo: open ${server.url}/ in several tabs (demo / demo). Ctrl+C to stop.`)
} else {
	console.log(`OpenID provider (oidc-provider) at ${provider.issuer}`)
	console.log(`sw-token-broker demo: open ${server.url}/?idp=${encodeURIComponent(provider.issuer)} in several tabs (demo / demo at the provider). Ctrl+C to stop.`)
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
	process.once(signal, () => {
		Promise.all([server.close(), provider?.close()]).then(
			() => process.exit(0),
			(error: unknown) => {
				console.error(error)
				process.exit(1)
			},
		)
	})
}
