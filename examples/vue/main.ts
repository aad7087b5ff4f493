import { createApp } from 'vue'
import { fire } from '../client.js'
import App from './App.vue'
import { seen, useApi } from './use-api.js'

createApp(App).mount('#app')

const api = useApi()
Object.assign(window, { swtbExample: { fire: (count: number) => fire(count, api.get), responses: () => seen.responses } })
