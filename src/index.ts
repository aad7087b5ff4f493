/**
 * The page side: `createTokenClient` and `client.fetch`, the refresh presets for the in-page fallback, and the errors.
 * @module sw-token-broker
 */
export { createTokenClient, type TokenClient, type TokenClientOptions, type TokenClientEvent } from './create-token-client.js'
export type { BrokerEvent } from './core/broker-core.js'
export type { WorkboxLike, ServiceWorkerOption, BrokerHost, Fallback } from './transports/select.js'
export type { ReadTokens } from './core/exchange.js'
export type { IsUnauthorized } from './adapters/fetch.js'
export type { TokenEvent, TabEvent, ClientState } from './session/tab-session.js'
export { oauth2Refresh, cookieRefresh, type OAuth2RefreshOptions, type CookieRefreshOptions } from './core/presets.js'
export { openIdProvider, type OpenIdProviderOptions } from './core/oidc/open-id-provider.js'
export type { RefreshFunction, RefreshContext } from './core/refresh-function.js'
export type { TokenSet, LogoutReason, ExchangeRequest, SignInOptions } from './core/protocol.js'
export { TokenBrokerError } from './core/errors/token-broker-error.js'
export { LoggedOutError } from './core/errors/logged-out-error.js'
export { RefreshUnavailableError } from './core/errors/refresh-unavailable-error.js'
export { BrokerTimeoutError } from './core/errors/broker-timeout-error.js'
export { RefreshRejectedError } from './core/errors/refresh-rejected-error.js'
export { LoginFailedError } from './core/errors/login-failed-error.js'
export { ProtocolError } from './core/errors/protocol-error.js'
export { RequestNotReplayableError } from './core/errors/request-not-replayable-error.js'
export { NoServiceWorkerError } from './core/errors/no-service-worker-error.js'
export { InvalidOptionError } from './core/errors/invalid-option-error.js'
