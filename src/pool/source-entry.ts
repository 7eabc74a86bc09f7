/**
 * The decode worker when the CLI runs from its TypeScript sources (the tests run src/ through
 * vitest, and a worker thread cannot load .ts files): its sources bundled into one ES module with
 * esbuild, a devDependency that is there wherever the sources run, handed to the Worker as a
 * data: URL. Bundled once per process. The published package never comes here: it runs
 * dist/pool/decode-worker.js.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

interface EsbuildLike {
  build(options: object): Promise<{ outputFiles: { contents: Uint8Array }[] }>;
}

let bundled: Promise<URL> | null = null;

export function bundledWorker(entry: URL): Promise<URL> {
  bundled ??= (async () => {
    // Loaded through createRequire so that no bundler of the published CLI follows it (the package does not depend on esbuild).
    const load = createRequire(import.meta.url);
    const esbuild = load('esbuild') as EsbuildLike;
    const result = await esbuild.build({
      entryPoints: [fileURLToPath(entry)],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      write: false,
      logLevel: 'silent',
      alias: { '#platform': fileURLToPath(new URL('../platform/node.ts', import.meta.url)) },
    });
    return new URL(`data:text/javascript;base64,${Buffer.from(result.outputFiles[0]!.contents).toString('base64')}`);
  })();
  return bundled;
}
