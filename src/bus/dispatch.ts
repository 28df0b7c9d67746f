// Turns a manager's typed protocol handlers into the one Handler a bus serves.
import { StratusError } from '../errors.js';
import type { Handler, Protocol, ProtocolHandlers } from './bus.js';

export function dispatch<P extends Protocol>(
  topic: string,
  handlers: ProtocolHandlers<P>,
): Handler {
  return async (method, args, context) => {
    if (!Object.prototype.hasOwnProperty.call(handlers, method)) {
      throw new StratusError(
        'invalid',
        `The service on topic '${topic}' has no method '${method}'.`,
        {
          resource: 'method',
          id: method,
        },
      );
    }
    const fn = handlers[method as keyof P] as (a: unknown, c: typeof context) => Promise<unknown>;
    return fn.call(handlers, args, context);
  };
}
