/** The suite's command line, the layer selection and the progress display. */
import { describe, expect, it } from 'vitest';
import { OptionError, parseSuiteArgs, selectLayers } from '../../bench/lib/options.js';
import { Progress } from '../../bench/lib/progress.js';
import { buildArchitecture, convLayers } from '../../src/model/architecture.js';

const names = convLayers(buildArchitecture()).map((l) => l.name);

describe('npm run bench options', () => {
  it('defaults: the 16 configurations, batch 1 and 8, every peer and stage', () => {
    const o = parseSuiteArgs([]);
    expect(o.alphas).toEqual([1, 0.75, 0.5, 0.25]);
    expect(o.resolutions).toEqual([224, 192, 160, 128]);
    expect(o.batches).toEqual([1, 8]);
    expect(o.peers).toEqual(['tfjs-wasm', 'tfjs-cpu', 'ort-web', 'ort-node']);
    expect(o.stages).toEqual(['ceiling', 'kernels', 'layers', 'models']);
    expect(o).toMatchObject({ quick: false, json: false, layers: null, out: null });
  });

  it('--quick: four configurations; lists, none, stages in their fixed order, = syntax', () => {
    expect(parseSuiteArgs(['--quick'])).toMatchObject({ quick: true, alphas: [1, 0.25], resolutions: [224, 128] });
    const o = parseSuiteArgs(['--alpha', '0.5,1', '--resolution=96', '--peers', 'none', '--stages', 'models,ceiling', '--json', '--layers', '*_depthwise']);
    expect(o).toMatchObject({ alphas: [0.5, 1], resolutions: [96], peers: [], stages: ['ceiling', 'models'], json: true, layers: '*_depthwise' });
    expect(parseSuiteArgs(['--peers', 'ort-node,tfjs-wasm']).peers).toEqual(['ort-node', 'tfjs-wasm']);
  });

  const bad: [string[], RegExp][] = [
    [['--alpha', '0'], /--alpha.*"0"/],
    [['--alpha', '1,x'], /--alpha.*"x"/],
    [['--resolution', '22.5'], /--resolution/],
    [['--batch', '0'], /--batch/],
    [['--peers', 'tfjs-webgl'], /--peers.*tfjs-webgl/],
    [['--stages', 'plots'], /--stages/],
    [['--alpha'], /--alpha: expected a value/],
    [['--fast'], /unknown option "--fast"/],
  ];
  for (const [args, message] of bad) {
    it(`refuses ${args.join(' ')}`, () => {
      expect(() => parseSuiteArgs(args)).toThrow(OptionError);
      expect(() => parseSuiteArgs(args)).toThrow(message);
    });
  }
});

describe('--layers', () => {
  it('all 28 conv layers of alpha 1.0 @ 224 by default', () => {
    expect(names).toHaveLength(28);
    expect(selectLayers(names, null)).toEqual([...Array(28).keys()]);
  });
  it('indices, ranges, names and globs, in layer order without repeats', () => {
    expect(selectLayers(names, 'Logits,0,2-4,3')).toEqual([0, 2, 3, 4, 27]);
    expect(selectLayers(names, '*_depthwise').map((i) => names[i])).toEqual(names.filter((n) => n.endsWith('_depthwise')));
    expect(selectLayers(names, 'Conv2d_13_*')).toEqual([25, 26]);
  });
  it('refuses what matches nothing', () => {
    expect(() => selectLayers(names, '28')).toThrow(/outside 0-27/);
    expect(() => selectLayers(names, 'Conv2d_99')).toThrow(/matches no layer/);
    expect(() => selectLayers(names, '5-2')).toThrow(OptionError);
  });
});

describe('progress', () => {
  const sink = (isTTY: boolean) => {
    const out: string[] = [];
    return { out, sink: { isTTY, write: (t: string) => void out.push(t) } };
  };
  it('not a terminal: one line per stage, when it ends; notes only when asked', () => {
    const { out, sink: s } = sink(false);
    const p = new Progress(s);
    p.note('header', true);
    p.begin('kernels', 3);
    for (let i = 0; i < 3; i++) p.update(`layer ${i}`, true);
    p.note('a detail');
    p.end('done');
    expect(out).toHaveLength(2);
    expect(out[0]).toBe('header\n');
    expect(out[1]).toMatch(/^\[kernels\] 3\/3 done in 0m0\ds, 0m0\ds elapsed: done\n$/);
  });
  it('a terminal: the line is rewritten in place with counts and elapsed time', () => {
    const { out, sink: s } = sink(true);
    const p = new Progress(s);
    p.begin('models', 2);
    p.update('alpha 1 @ 224', true);
    expect(out.at(-1)).toMatch(/^\r\[models\] 1\/2 alpha 1 @ 224 \| 0m0\ds elapsed/);
    p.end();
    expect(out.at(-1)).toMatch(/^\r\[models\] 1\/2 done in .*\n$/);
  });
});
