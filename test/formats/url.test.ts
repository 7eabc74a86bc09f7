// Loading over HTTP from a server on loopback: a TF.js model folder URL, a model.json URL and a
// TFLite file URL give the same weights as the same files read from disk.
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MobilenetError } from '../../src/errors.js';
import { loadModelFile } from '../../src/formats/index.js';
import { requireShared, sharedDir } from '../helpers/shared.js';

const HAVE = requireShared('models/mobilenet_v1_0.25_224/model.json', 'models/mobilenet_v1_0.25_128_quant/mobilenet_v1_0.25_128_quant.tflite');

describe.skipIf(!HAVE)('loadModelFile over http', () => {
  let server: Server;
  let base: string;
  const requests: string[] = [];
  beforeAll(async () => {
    server = createServer(async (req, res) => {
      requests.push(req.url!);
      if (req.url!.startsWith('/chunked/')) {
        // The real model, but its shard streamed without Content-Length and 256 KiB too long.
        const file = req.url!.endsWith('model.json') ? 'model.json' : 'group1-shard1of1.bin';
        const body = await readFile(join(sharedDir, 'models', 'mobilenet_v1_0.25_224', file));
        res.writeHead(200);
        res.write(body);
        if (file !== 'model.json') for (let i = 0; i < 4; i++) res.write(new Uint8Array(65536));
        res.end();
        return;
      }
      try {
        const body = await readFile(join(sharedDir, 'models', decodeURIComponent(req.url!.replace(/^\/+/, ''))));
        res.writeHead(200, { 'content-length': body.length }).end(body);
      } catch {
        res.writeHead(404, { 'content-type': 'text/html' }).end('<html>not found</html>');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address() as { port: number };
    base = `http://127.0.0.1:${address.port}/`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const same = async (url: string, path: string) => {
    const fromUrl = await loadModelFile(url);
    const fromDisk = await loadModelFile(join(sharedDir, 'models', path));
    expect(fromUrl.options).toEqual(fromDisk.options);
    expect(fromUrl.format).toBe(fromDisk.format);
    expect([...fromUrl.weights.keys()]).toEqual([...fromDisk.weights.keys()]);
    for (const [name, t] of fromDisk.weights) expect(fromUrl.weights.get(name)!.data, name).toEqual(t.data);
  };

  it('a TF.js graph model by folder URL and by model.json URL, shards fetched beside it', async () => {
    await same(`${base}mobilenet_v1_0.25_224/`, 'mobilenet_v1_0.25_224');
    await same(`${base}mobilenet_v1_0.25_224/model.json`, 'mobilenet_v1_0.25_224');
    expect(requests).toContain('/mobilenet_v1_0.25_224/group1-shard1of1.bin');
  });

  it('a TFLite file by URL', async () => {
    await same(`${base}mobilenet_v1_0.25_128_quant/mobilenet_v1_0.25_128_quant.tflite`, 'mobilenet_v1_0.25_128_quant/mobilenet_v1_0.25_128_quant.tflite');
  });

  it('a shard streamed without Content-Length is read only up to what the manifest allows', async () => {
    const err = await loadModelFile(`${base}chunked/model.json`).catch((e) => e);
    expect(err).toBeInstanceOf(MobilenetError);
    expect(err.code).toBe('ERR_BYTE_LENGTH');
    expect(err.message).toMatch(/group1-shard1of1\.bin: at least \d+ bytes, more than the \d+ expected/);
  });

  it('a 404 is an ERR_IO naming the URL and the status', async () => {
    const err = await loadModelFile(`${base}missing.tflite`).catch((e) => e);
    expect(err).toBeInstanceOf(MobilenetError);
    expect(err.code).toBe('ERR_IO');
    expect(err.message).toContain('missing.tflite');
    expect(err.message).toContain('404');
  });
});
