/**
 * ?idp=<issuer> (IDP=oidc npm run demo, and the e2e suite's OpenID provider specs): the demo
 * signs in at that OpenID provider and its worker refreshes there, instead of at the dev server.
 * The endpoints are oidc-provider's defaults, as startOidcProvider serves them.
 */
export interface OpenIdProvider {
	issuer: string
	authorizationEndpoint: string
	tokenEndpoint: string
	revocationEndpoint: string
	clientId: string
}

export function openIdProvider(query: URLSearchParams): OpenIdProvider | undefined {
	const issuer = query.get('idp')
	if (issuer === null) return undefined
	// Only a provider on this machine: a link must not be able to point the demo's sign-in elsewhere.
	if (new URL(issuer).hostname !== '127.0.0.1') throw new Error(`the demo signs in only at a provider on 127.0.0.1, not at ${issuer}`)
	return {
		issuer,
		authorizationEndpoint: `${issuer}/auth`,
		tokenEndpoint: `${issuer}/token`,
		revocationEndpoint: `${issuer}/token/revocation`,
		clientId: 'app',
	}
}

/** Registered at the provider as is (server/demo.ts, e2e/oidc-fixtures.ts): the query keeps the tab in this mode. */
export function redirectUri(provider: OpenIdProvider): string {
	return `${location.origin}/login?idp=${encodeURIComponent(provider.issuer)}`
}
