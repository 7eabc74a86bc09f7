/**
 * The worker's side: one model, loaded by the first `load` call. Calls start in order of arrival
 * and run as they would in the calling thread (one that waits for a download lets later ones
 * go ahead); each answer names its call. Errors go back with their code and message (a batch's
 * partial results too).
 */
import { ErrorCodes, MobilenetError } from '../../errors.js';
import { Tensor } from '../../tensor.js';
import { loadInThread, type LoadOptions } from '../load-core.js';
import type { MobileNet } from '../mobilenet.js';
import { MODEL_INFO, type FromWorker, type Port, type SerializedError, type ToWorker } from './protocol.js';

export function serve(port: Port): void {
  let model: MobileNet | null = null;
  const aborts = new Map<number, AbortController>();
  const reply = (message: FromWorker, transfer: Transferable[] = []) => port.post(message, transfer);

  port.onMessage(async (raw) => {
    const message = raw as ToWorker;
    if (message.type === 'abort') {
      aborts.get(message.id)?.abort(new MobilenetError(ErrorCodes.ABORTED, 'aborted by the caller'));
      return;
    }
    const { id, method, args } = message;
    const controller = new AbortController();
    aborts.set(id, controller);
    try {
      let value: unknown;
      let transfer: Transferable[] = [];
      if (method === 'load') {
        const [source, options] = args as [never, LoadOptions];
        model?.dispose();
        model = await loadInThread(source, { ...options, signal: controller.signal, onProgress: (progress) => reply({ type: 'progress', id, progress }) });
        value = Object.fromEntries(MODEL_INFO.map((key) => [key, model![key]]));
      } else if (method === 'dispose') {
        model?.dispose();
        model = null;
      } else {
        if (!model) throw new MobilenetError(ErrorCodes.DISPOSED, 'model: used after dispose()');
        const [image, second, options] = args as [unknown, unknown, Record<string, unknown> | undefined];
        const call = { ...options, signal: controller.signal };
        if (method === 'classify') value = await model.classify(revive(image) as never, second as number, call);
        else if (method === 'classifyBatch') value = await model.classifyBatch((Array.isArray(image) ? image.map(revive) : revive(image)) as never, second as number, call);
        else {
          const features = await model.embed(revive(image) as never, { ...(second as object), signal: controller.signal });
          value = features;
          transfer = [features.buffer];
        }
      }
      reply({ type: 'result', id, ok: true, value }, transfer);
    } catch (e) {
      reply({ type: 'result', id, ok: false, error: serializeError(e) });
    } finally {
      aborts.delete(id);
    }
  });
  reply({ type: 'ready' });
}

/** Tensors cross as { tensor: { data, shape } } (a class does not survive structured cloning). */
function revive(value: unknown): unknown {
  const t = (value as { tensor?: { data: Float32Array; shape: number[] } } | null)?.tensor;
  return t && t.data instanceof Float32Array ? new Tensor(t.data, t.shape) : value;
}

function serializeError(e: unknown): SerializedError {
  if (e instanceof MobilenetError) {
    const { results, failures } = e as MobilenetError & { results?: unknown; failures?: unknown };
    return { code: e.code, message: e.message, ...(results !== undefined ? { results, failures } : {}) };
  }
  return { code: ErrorCodes.WORKER, message: `the worker failed: ${(e as Error)?.message ?? String(e)}` };
}
