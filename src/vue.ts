export { useAuth } from './frameworks/vue.js'
