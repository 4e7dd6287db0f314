export { requireApiServerTools, startApiServer, type ApiServer } from './apiserver.ts';
