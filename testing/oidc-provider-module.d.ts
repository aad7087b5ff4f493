// oidc-provider ships no type declarations. This names only what testing/oidc-provider.ts uses,
// and stays out of the published declarations, so consumers without oidc-provider type-check.
declare module 'oidc-provider' {
	import type { IncomingMessage, ServerResponse } from 'node:http'

	export interface KoaContext {
		path: string
		method: string
		req: IncomingMessage
		res: ServerResponse
		status: number
		type: string
		body: unknown
		set(field: string, value: string): void
		redirect(url: string): void
		oidc?: {
			route?: string
			params?: Record<string, unknown>
			entities: { RefreshToken?: { grantId?: string } }
		}
	}

	export interface InteractionDetails {
		uid: string
		prompt: { name: string; details: { missingOIDCScope?: string[] } }
		params: Record<string, unknown> & { client_id?: string }
		session?: { accountId?: string }
		grantId?: string
	}

	export interface Grant {
		addOIDCScope(scope: string): void
		save(): Promise<string>
	}

	export class Provider {
		constructor(issuer: string, configuration: Record<string, unknown>)
		callback(): (req: IncomingMessage, res: ServerResponse) => void
		use(middleware: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>): void
		on(event: 'grant.success', listener: (ctx: KoaContext) => void): this
		on(event: 'grant.error', listener: (ctx: KoaContext, error: Error) => void): this
		on(event: 'grant.revoked', listener: (ctx: KoaContext, grantId: string) => void): this
		on(event: 'end_session.success', listener: (ctx: KoaContext) => void): this
		interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>
		interactionResult(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options?: { mergeWithLastSubmission?: boolean }): Promise<string>
		Grant: {
			new (properties: { accountId: string; clientId: string }): Grant
			find(id: string): Promise<Grant | undefined>
		}
	}

	export default Provider
}
