/** What the request-cost bench measures, bundled the way an app ships it (see shippedLibrary). */
export { attachAxios } from '../src/adapters/axios.js'
export { clientOver } from '../src/create-token-client.js'
export { tabSession } from '../src/session/tab-session.js'
