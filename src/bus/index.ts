export * from './bus.js';
export { dispatch } from './dispatch.js';
export { InProcessBus, type InProcessBusOptions } from './in-process.js';
export { AmqpBus, type AmqpBusOptions } from './amqp.js';
