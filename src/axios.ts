export { attachAxios } from './adapters/axios.js'
