// Server actions: os-stop, os-start, reboot (SOFT or HARD) and os-getConsoleOutput. Each
// checks the server's state the way the Compute API does (stopping a stopped server is 409).
import { checkUnlocked } from '../../compute/index.js';
import { StratusError } from '../../errors.js';
import { parseCreateImage, runCreateImage } from './create-image-action.js';
import { runLifecycleAction } from './lifecycle-actions.js';
import { parseLifecycleAction } from './lifecycle-requests.js';
import { parseServerAction } from './requests.js';
import type { RouteDeps } from './routes.js';
import { findServer } from './servers.js';
import { proxyServerAction } from './proxy-actions.js';
import { serialConsoleAction } from './remote-consoles.js';

export function serverActionRoutes(deps: RouteDeps): void {
  const { app, services, caller } = deps;
  const ops = services.instances;
  app.post<{ Params: { id: string } }>('/v2.1/servers/:id/action', async (request, reply) => {
    const ctx = await caller(request);
    // The security group and floating IP actions (proxy-actions.ts).
    if (await proxyServerAction(deps, ctx, request)) return reply.code(202).send();
    const serial = await serialConsoleAction(deps, deps.consoles, ctx, request);
    if (serial) return serial;
    // Pause, suspend, rescue, rebuild, resize, lock: lifecycle-actions.ts.
    const lifecycle = parseLifecycleAction(request.body, request.microversion);
    if (lifecycle) {
      const row = await findServer(ops, ctx, request.params.id);
      return runLifecycleAction(deps, request, reply, ctx, row, lifecycle);
    }
    // createImage: create-image-action.ts.
    const createImage = parseCreateImage(request.body);
    if (createImage) {
      const row = await findServer(ops, ctx, request.params.id);
      return runCreateImage(deps, request, reply, ctx, row, createImage, request.microversion);
    }
    const action = parseServerAction(request.body);
    const row = await findServer(ops, ctx, request.params.id);
    // A locked server refuses its power actions to all but admins.
    if (action.kind !== 'os-getConsoleOutput') checkUnlocked(ctx, row);
    const refuse = (what: string) =>
      new StratusError(
        'conflict',
        `Cannot '${what}' instance ${row.id} while it is in vm_state ${row.vmState}${row.taskState ? ` and task_state ${row.taskState}` : ''}.`,
        { resource: 'instance', id: row.id, reason: 'instance_state' },
      );
    switch (action.kind) {
      case 'os-stop':
        if (row.vmState !== 'active' || row.taskState !== null) throw refuse('stop');
        await ops.stop(ctx, [row], false);
        return reply.code(202).send();
      case 'os-start':
        if (row.vmState !== 'stopped' || row.taskState !== null) throw refuse('start');
        await ops.start(ctx, [row]);
        return reply.code(202).send();
      case 'reboot':
        if (row.vmState !== 'active' || row.taskState !== null) throw refuse('reboot');
        await ops.reboot(ctx, [row], action.hard);
        return reply.code(202).send();
      case 'os-getConsoleOutput': {
        const { output } = await ops.consoleOutput(ctx, row);
        return { output: lastLines(output, action.length) };
      }
    }
  });
}

/** The last `n` lines of a console log (all of it if `n` is undefined). */
function lastLines(text: string, n: number | undefined): string {
  if (n === undefined) return text;
  if (n === 0) return '';
  const lines = text.split('\n');
  const trailing = lines[lines.length - 1] === '' ? 1 : 0;
  return lines.slice(Math.max(0, lines.length - trailing - n)).join('\n');
}
