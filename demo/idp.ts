import type { OpenIdProviderOptions } from 'sw-token-broker/sw'

/**
 * ?idp=<issuer> (IDP=oidc npm run demo, and the e2e suite's OpenID provider specs): the demo
 * signs in at that OpenID provider with signIn() and its worker refreshes there, instead of at
 * the dev server. The endpoints are oidc-provider's defaults, as startOidcProvider serves them.
 */
export interface OpenIdProvider {
	issuer: string
	tokenEndpoint: string
	clientId: string
	/** ?dpop=1: the callback page must come back in that mode too, or it would register a worker without DPoP. */
	dpop: boolean
}

export function openIdProvider(query: URLSearchParams): OpenIdProvider | undefined {
	const issuer = query.get('idp')
	if (issuer === null) return undefined
	// Only a provider on this machine: a link must not be able to point the demo's sign-in elsewhere.
	if (new URL(issuer).hostname !== '127.0.0.1') throw new Error(`the demo signs in only at a provider on 127.0.0.1, not at ${issuer}`)
	return { issuer, tokenEndpoint: `${issuer}/token`, clientId: 'app', dpop: query.get('dpop') === '1' }
}

/** Registered at the provider as is (server/demo.ts, the e2e fixtures): the query keeps the tab in this mode. */
export function redirectPath(provider: OpenIdProvider): string {
	return `/login?idp=${encodeURIComponent(provider.issuer)}${provider.dpop ? '&dpop=1' : ''}`
}

/** The broker's preset, in the worker and in the in-page fallback alike. */
export function providerOptions(provider: OpenIdProvider): OpenIdProviderOptions {
	return {
		issuer: provider.issuer,
		clientId: provider.clientId,
		scope: 'openid offline_access profile email',
		redirectUri: redirectPath(provider),
		postLogoutRedirectUri: redirectPath(provider),
		// oidc-provider follows OpenID Connect Core 11: offline_access (a refresh token) only with prompt=consent.
		params: { prompt: 'consent' },
	}
}
