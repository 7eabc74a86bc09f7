/** Runtimes without workers (Cloudflare Workers): `{ worker: true }` is refused with a reason. */
import { ErrorCodes, fail } from '../errors.js';
import type { WorkerPort } from './types.js';

export async function spawnModelWorker(): Promise<WorkerPort> {
  return fail(ErrorCodes.OPTION, 'option worker: this runtime cannot start workers (Cloudflare Workers run one isolate per request); load the model without { worker: true }');
}
