import { createApp, defineComponent, h } from 'vue'
import { useAuth } from 'sw-token-broker/vue'
import { client } from './client.js'

/** A Vue app on sw-token-broker/vue: the readonly reactive state in a render function. */
const Status = defineComponent({
	setup() {
		const auth = useAuth(client)
		return () => h('p', { id: 'state' }, auth.status)
	},
})

createApp(Status).mount('#app')
