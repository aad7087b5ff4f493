export type { BrokerBroadcast } from '../../../src/core/protocol.js'
export { envelope } from '../../../src/core/protocol.js'
export type { RefreshFunction as RefreshFunctionLike } from '../../../src/core/refresh-function.js'
