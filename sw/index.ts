/**
 * The worker side: `createTokenBroker(options).listen(self)` and the refresh presets.
 * @module sw-token-broker/sw
 */
export { createTokenBroker, type TokenBroker, type TokenBrokerOptions, type BrokerScope, type BrokerMessageEvent } from './broker-host.js'
export type { ReadTokens } from '../src/core/exchange.js'
export { oauth2Refresh, cookieRefresh, type OAuth2RefreshOptions, type CookieRefreshOptions } from '../src/core/presets.js'
export { openIdProvider, type OpenIdProviderOptions } from '../src/core/oidc/open-id-provider.js'
export type { RefreshFunction, RefreshContext } from '../src/core/refresh-function.js'
export { sendWithProof } from '../src/core/dpop/send-with-proof.js'
export type { Prover } from '../src/core/dpop/prover.js'
export { RefreshRejectedError } from '../src/core/errors/refresh-rejected-error.js'
export { RefreshUnavailableError } from '../src/core/errors/refresh-unavailable-error.js'
export { LoginFailedError } from '../src/core/errors/login-failed-error.js'
export type { TokenSet, LogoutReason } from '../src/core/protocol.js'
export type { BrokerEvent } from '../src/core/broker-core.js'
