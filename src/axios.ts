/**
 * axios glue: `attachAxios(client, instance)`; axios is an optional peer.
 * @module sw-token-broker/axios
 */
export { attachAxios } from './adapters/axios.js'
