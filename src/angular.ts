export { tokenInterceptor } from './frameworks/angular.js'
