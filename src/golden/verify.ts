/**
 * Comparing another engine's end points with a golden bundle, under the bundle's tolerance
 * rule: per end point E, pass iff max|other - golden| <= max(atol_E, rtol_E * max|golden|),
 * rtol_E and atol_E from the manifest (tolerance.ts explains them; format version 1 has one
 * pair for all). The bundle's verify_golden.py applies the same rule with the same arithmetic
 * and gives the same verdicts (test/golden/python-checker.test.ts holds the two together).
 *
 * The other outputs come from one of:
 *   - a safetensors file whose tensors are named as the end points (`Conv2d_0`, ..., `Logits`);
 *   - a folder of .npy files named `<end point>.npy` (the basename of the manifest's `npy`
 *     path), or holding the manifest's own relative paths (`npy/outputs/<end point>.npy`);
 *   - another bundle folder (it is checked in full first, and must have the same input).
 * End points the other engine did not produce are reported as missing; they fail nothing, but
 * at least one end point must be compared. Tensors of other names are ignored.
 */
import { basename, join } from 'node:path';
import { platform } from '#platform';
import { ErrorCodes, fail } from '../errors.js';
import { parseSafetensors, readTensorData } from '../formats/safetensors.js';
import type { NamedTensor } from '../model/weights.js';
import { MANIFEST_FILE, inFile, outputsPathKind, readBundle, readCapped, sameShape, type GoldenBundle, type Tolerance } from './bundle.js';
import { parseNpy } from './npy.js';
import { QUANT_FORMAT_VERSION, bundleFormatVersion } from './quant.js';

export type OtherKind = 'safetensors' | 'npy' | 'bundle';

export interface OtherOutputs {
  kind: OtherKind;
  path: string;
  tensors: Map<string, NamedTensor>;
}

export interface EndpointResult {
  name: string;
  shape: number[];
  status: 'pass' | 'fail' | 'missing';
  otherShape?: number[];
  maxAbsError?: number;
  maxRelError?: number;
  /** max(atol, rtol * max|golden|): the largest absolute error allowed. */
  allowed?: number;
  /** This end point's tolerance (from the manifest). */
  rtol?: number;
  atol?: number;
  /** Flat index of the largest error (first of equals). */
  worstIndex?: number;
  reason?: string;
}

export interface VerifyReport {
  bundle: string;
  other: { kind: OtherKind; path: string };
  tolerance: Tolerance;
  endpoints: EndpointResult[];
  compared: number;
  failed: number;
  missing: number;
  /** The first end point, in network order, that fails; null when none does. */
  firstDivergence: string | null;
  passed: boolean;
}

/** Drops size-1 dimensions: [1, 1001] and [1, 1, 1, 1001] compare as the same layout. */
const squeeze = (s: readonly number[]) => s.filter((d) => d !== 1);

/** One end point under the tolerance rule. */
function compareEndpoint(name: string, golden: NamedTensor, other: NamedTensor | undefined, tolerance: { rtol: number; atol: number }): EndpointResult {
  const base = { name, shape: [...golden.shape] };
  if (!other) return { ...base, status: 'missing' };
  if (!sameShape(squeeze(golden.shape), squeeze(other.shape))) {
    return { ...base, status: 'fail', otherShape: [...other.shape], reason: `shape [${other.shape.join(',')}], expected [${golden.shape.join(',')}] (NHWC)` };
  }
  let maxAbs = 0;
  let scale = 0;
  let worst = 0;
  const g = golden.data;
  const o = other.data;
  for (let i = 0; i < g.length; i++) {
    const d = Math.abs(o[i]! - g[i]!);
    // NaN anywhere is an infinite error.
    const err = Number.isNaN(d) ? Infinity : d;
    if (err > maxAbs) {
      maxAbs = err;
      worst = i;
    }
    scale = Math.max(scale, Math.abs(g[i]!));
  }
  const allowed = Math.max(tolerance.atol, tolerance.rtol * scale);
  const maxRel = scale > 0 ? maxAbs / scale : maxAbs === 0 ? 0 : Infinity;
  const pass = maxAbs <= allowed;
  return {
    ...base,
    status: pass ? 'pass' : 'fail',
    otherShape: [...other.shape],
    maxAbsError: maxAbs,
    maxRelError: maxRel,
    allowed,
    rtol: tolerance.rtol,
    atol: tolerance.atol,
    worstIndex: worst,
    ...(pass ? {} : { reason: `element ${worst}: golden ${g[worst]}, other ${o[worst]}` }),
  };
}

/** Compares every computed end point of the bundle, in network order. */
export function compareWithBundle(bundle: GoldenBundle, other: OtherOutputs): VerifyReport {
  const tolerance = bundle.tolerance;
  const endpoints = [...bundle.outputs].map(([name, golden]) => compareEndpoint(name, golden, other.tensors.get(name), bundle.tolerances.get(name)!));
  const compared = endpoints.filter((e) => e.status !== 'missing').length;
  if (compared === 0) {
    const found = [...other.tensors.keys()];
    fail(
      ErrorCodes.WEIGHT_MISSING,
      `verify: ${other.path} holds none of the bundle's end points; expected tensors named ${bundle.manifest.endpoints.computed.slice(0, 5).join(', ')}, ... ` +
        `found ${found.length === 0 ? 'no tensors' : found.slice(0, 5).join(', ') + (found.length > 5 ? ', ...' : '')}`,
    );
  }
  const failed = endpoints.filter((e) => e.status === 'fail');
  return {
    bundle: bundle.dir,
    other: { kind: other.kind, path: other.path },
    tolerance,
    endpoints,
    compared,
    failed: failed.length,
    missing: endpoints.length - compared,
    firstDivergence: failed[0]?.name ?? null,
    passed: failed.length === 0,
  };
}

/** Reads the other engine's outputs from a safetensors file, a folder of .npy files or a bundle. */
export async function loadOtherOutputs(path: string, bundle: GoldenBundle): Promise<OtherOutputs> {
  const kind = await outputsPathKind(path);
  const tensors = new Map<string, NamedTensor>();
  if (kind === 'file') {
    const bytes = await readCapped(path);
    const st = inFile(path, () => parseSafetensors(bytes));
    for (const [name, entry] of st.entries) {
      const data = readTensorData(st, entry);
      if (data) tensors.set(name, { shape: entry.shape, data });
      else if (bundle.outputs.has(name)) fail(ErrorCodes.DTYPE, `${path}: tensor ${name}: dtype ${entry.dtype} is not a float dtype (expected F32, F64, F16 or BF16)`);
    }
    return { kind: 'safetensors', path, tensors };
  }
  const entries = await platform.listDir(path);
  if (entries.includes(MANIFEST_FILE)) {
    if ((await bundleFormatVersion(path)) === QUANT_FORMAT_VERSION) {
      fail(ErrorCodes.DTYPE, `--outputs ${path}: a quantized golden bundle (format version ${QUANT_FORMAT_VERSION}, integers); this bundle is float: give float outputs`);
    }
    const other = await readBundle(path);
    const a = bundle.input;
    const b = other.input;
    if (a.data.length !== b.data.length || a.data.some((v, i) => !Object.is(v, b.data[i]))) {
      fail(ErrorCodes.INPUT, `verify: the bundle ${path} was computed on another input (expected ${bundle.manifest.input.generator} with seed ${bundle.manifest.config.seed}, shape [${a.shape.join(',')}]; found seed ${other.manifest.config.seed}, shape [${b.shape.join(',')}])`);
    }
    return { kind: 'bundle', path, tensors: other.outputs };
  }
  for (const t of bundle.manifest.tensors.filter((x) => x.group === 'outputs')) {
    for (const rel of [basename(t.npy), t.npy]) {
      if (!entries.includes(rel.split('/')[0]!)) continue;
      const file = join(path, rel);
      // Absent: try the next name. Present but not a regular file (a pipe, a device): refused by readCapped.
      const exists = await platform.fileInfo(file).then(() => true, () => false);
      if (!exists) continue;
      const bytes = await readCapped(file);
      const npy = inFile(file, () => parseNpy(bytes, file));
      tensors.set(t.name, { shape: npy.shape, data: npy.data });
      break;
    }
  }
  return { kind: 'npy', path, tensors };
}

const sci = (v: number | undefined) => (v === undefined ? '-' : Number.isFinite(v) ? v.toExponential(2) : String(v));

/** The report as a table a person reads. */
export function formatReport(report: VerifyReport, bundle: GoldenBundle): string {
  const c = bundle.manifest.config;
  const lines = [
    `bundle ${report.bundle}: alpha ${c.alpha}, ${c.resolution[0]}x${c.resolution[1]}, seed ${c.seed}, flavour ${c.flavour}, batch ${c.batch}`,
    `other  ${report.other.path} (${report.other.kind})`,
    `rule   ${report.tolerance.rule}${report.tolerance.rtol !== undefined ? ` (rtol ${report.tolerance.rtol}, atol ${report.tolerance.atol})` : ' (rtol per end point, see the manifest\'s tolerance.derivation)'}`,
    '',
  ];
  const width = Math.max(10, ...report.endpoints.map((e) => e.name.length));
  lines.push(`${'end point'.padEnd(width)}  ${'shape'.padEnd(18)}  ${'max abs err'.padStart(11)}  ${'max rel err'.padStart(11)}  ${'rtol'.padStart(11)}  ${'allowed abs'.padStart(11)}  result`);
  for (const e of report.endpoints) {
    const result = e.status === 'pass' ? 'pass' : e.status === 'missing' ? 'missing' : `FAIL${e.reason ? ` (${e.reason})` : ''}`;
    const rtol = bundle.tolerances.get(e.name)?.rtol;
    lines.push(`${e.name.padEnd(width)}  ${`[${e.shape.join(',')}]`.padEnd(18)}  ${sci(e.maxAbsError).padStart(11)}  ${sci(e.maxRelError).padStart(11)}  ${sci(rtol).padStart(11)}  ${sci(e.allowed).padStart(11)}  ${result}`);
  }
  lines.push('');
  if (report.firstDivergence) {
    const first = report.endpoints.find((e) => e.name === report.firstDivergence)!;
    lines.push(`first divergence: ${first.name} (max rel err ${sci(first.maxRelError)}${first.reason ? `; ${first.reason}` : ''})`);
  }
  const missing = report.missing > 0 ? `, ${report.missing} missing` : '';
  lines.push(report.passed
    ? `PASS: ${report.compared} end points within tolerance${missing}`
    : `FAIL: ${report.failed} of ${report.compared} end points diverge${missing}`);
  return lines.join('\n') + '\n';
}
