#!/usr/bin/env python3
"""verify_golden.py: checks another engine's end points against this golden bundle.

    python3 verify_golden.py BUNDLE_DIR OUTPUTS [--json]

OUTPUTS is one of
  - a folder of <end point>.npy files (Conv2d_0.npy, ..., Logits.npy), or holding the bundle's
    own layout npy/outputs/<end point>.npy; '<f4' or '<f8', C order;
  - a .safetensors file whose tensors are named as the end points (F32, F64, F16 or BF16);
  - another bundle folder (it must have been computed on the same input).
A quantized bundle (format version 3: a uint8 or int8 TFLite model and its integer end points)
takes integer outputs ('|u1', '|i1', '<i2' ... '<u8'; safetensors U8, I8, ... I64) and compares
them exactly: every entry must equal the golden integer (tolerance 0); the report gives the number
of differing entries and the largest difference in levels per end point. A float OUTPUTS for a
quantized bundle is refused (ERR_DTYPE).

Exit codes: 0 every compared end point is within its tolerance; 1 at least one diverges (the
report names the first, in network order); 2 bad input (a damaged bundle, an unreadable or
malformed OUTPUTS, no end point to compare), with one line on stderr.

The rule, per end point E with golden values g and the other engine's values o:
    max_abs_error = max_i |o_i - g_i|     (a NaN is an infinite error)
    scale         = max_i |g_i|
    pass  iff  max_abs_error <= max(atol_E, rtol_E * scale)
a shape that differs once size-1 dimensions are dropped fails the end point; end points OUTPUTS
does not hold are "missing" and fail nothing. rtol_E and atol_E are in manifest.json
(tolerance.endpoints, with how they were derived; format version 1 has one rtol and atol).
The same rule, the same arithmetic (float64 differences of float32 values) and the same
verdicts as `mobilenet verify` of mobilenet-wasm, which wrote this file into the bundle.

Needs Python 3.8 or later and numpy; nothing else. The bundle is checked first, as mobilenet
verify checks it: every tensor of every safetensors and .npy file, the checker and the ONNX
model against the SHA-256 in manifest.json (a damaged bundle is bad input: exit 2).
"""
import decimal
import hashlib
import json
import math
import os
import re
import stat
import sys

try:
    import numpy as np
except ImportError:  # pragma: no cover
    sys.stderr.write('verify_golden.py: ERR_IO: numpy is required (pip install numpy, or apt-get install python3-numpy)\n')
    sys.exit(2)

FORMAT = 'mobilenet-golden'
FORMAT_VERSIONS = (1, 2, 3)
QUANT_VERSION = 3
TFLITE = 'model.tflite'
MANIFEST = 'manifest.json'
CHECKER = 'verify_golden.py'
ONNX = 'model.onnx'
GROUP_FILES = (('input', 'input.safetensors'), ('weights', 'weights.safetensors'), ('folded', 'folded.safetensors'), ('outputs', 'outputs.safetensors'))
MAX_FILE_BYTES = 1 << 30
MAX_MANIFEST_BYTES = 64 << 20
MAX_SAFETENSORS_HEADER = 100000000
MAX_NPY_HEADER = 10000
DTYPE_SIZES = {
    'BOOL': 1, 'U8': 1, 'I8': 1, 'F8_E5M2': 1, 'F8_E4M3': 1,
    'I16': 2, 'U16': 2, 'F16': 2, 'BF16': 2,
    'I32': 4, 'U32': 4, 'F32': 4,
    'I64': 8, 'U64': 8, 'F64': 8,
}
SAFE_INT = 2 ** 53 - 1
INT_DESCRS = {'|u1': 1, '|i1': 1, '<u2': 2, '<i2': 2, '<u4': 4, '<i4': 4, '<u8': 8, '<i8': 8}
INT_NAMES = "'|u1', '|i1', '<i2', '<u2', '<i4', '<u4', '<i8', '<u8'"
SAFETENSORS_INTS = {'U8': '|u1', 'I8': '|i1', 'U16': '<u2', 'I16': '<i2', 'U32': '<u4', 'I32': '<i4', 'U64': '<u8', 'I64': '<i8'}


class BadInput(Exception):
    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code


def fail(code, message):
    raise BadInput(code, message)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_safe_int(v):
    return is_number(v) and math.isfinite(v) and float(v).is_integer() and -SAFE_INT <= v <= SAFE_INT


def no_constants(name):
    raise ValueError('%s is not JSON' % name)


# --- files -----------------------------------------------------------------------------------

def read_capped(path, cap, what):
    """A regular file of at most `cap` bytes (a directory, pipe, device or socket is refused)."""
    try:
        st = os.stat(path)
    except OSError as e:
        fail('ERR_IO', '%s: expected the file %s, found none (%s)' % (what, path, e.strerror))
    if stat.S_ISDIR(st.st_mode):
        fail('ERR_IO', '%s: expected the file %s, found a directory (not a regular file)' % (what, path))
    if not stat.S_ISREG(st.st_mode):
        fail('ERR_IO', '%s: expected the file %s, found a device, pipe or socket (not a regular file)' % (what, path))
    if st.st_size > cap:
        fail('ERR_HEADER_LENGTH', '%s: %s has %d bytes, above the %d-byte cap' % (what, path, st.st_size, cap))
    try:
        with open(path, 'rb') as f:
            return f.read(cap + 1)
    except OSError as e:
        fail('ERR_IO', '%s: cannot read %s (%s)' % (what, path, e.strerror))


def is_bundle_path(p):
    return (isinstance(p, str) and p != '' and not p.startswith('/') and '\\' not in p
            and all(part not in ('', '.', '..') for part in p.split('/')))


# --- NPY (numpy's format, parsed as mobilenet verify parses it) -------------------------------

def parse_npy(b, name, ints=False):
    """(shape, descr, data, body): data float32, or with ints=True integers as float64 (a float file refused)."""
    if len(b) < 10:
        fail('ERR_FILE_TOO_SHORT', '%s: needs at least 10 bytes (the NPY preamble), has %d' % (name, len(b)))
    if b[:6] != b'\x93NUMPY':
        fail('ERR_HEADER_FORMAT', '%s: expected the NPY magic 93 4e 55 4d 50 59' % name)
    major = b[6]
    if major < 1 or major > 3:
        fail('ERR_HEADER_FORMAT', '%s: NPY version %d.%d is not 1.0, 2.0 or 3.0' % (name, major, b[7]))
    wide = major >= 2
    if wide and len(b) < 12:
        fail('ERR_FILE_TOO_SHORT', '%s: needs at least 12 bytes (the NPY %d.0 preamble), has %d' % (name, major, len(b)))
    length = int.from_bytes(b[8:12] if wide else b[8:10], 'little')
    start = 12 if wide else 10
    if length > MAX_NPY_HEADER:
        fail('ERR_HEADER_LENGTH', '%s: NPY header of %d bytes is above the %d-byte cap' % (name, length, MAX_NPY_HEADER))
    if start + length > len(b):
        fail('ERR_FILE_TOO_SHORT', '%s: NPY header needs %d bytes after the preamble, the file has %d' % (name, length, len(b) - start))
    try:
        header = b[start:start + length].decode('utf-8' if major == 3 else 'latin-1')
    except UnicodeDecodeError:
        fail('ERR_HEADER_FORMAT', '%s: NPY header is not valid text' % name)
    descr = re.search(r"'descr'\s*:\s*'([^']*)'", header)
    fortran = re.search(r"'fortran_order'\s*:\s*(True|False)", header)
    shape_text = re.search(r"'shape'\s*:\s*\(([^)]*)\)", header)
    if not re.fullmatch(r'\s*\{.*\}\s*', header, re.S) or not descr or not fortran or not shape_text:
        fail('ERR_HEADER_FORMAT', "%s: expected an NPY header {'descr': ..., 'fortran_order': ..., 'shape': (...)}" % name)
    descr = descr.group(1)
    shape_text = shape_text.group(1)
    if ints:
        if descr in ('<f4', '<f8'):
            fail('ERR_DTYPE', "%s: dtype '%s' is a float; this bundle is quantized and compares integers exactly: save the integer outputs (%s)" % (name, descr, INT_NAMES))
        if descr not in INT_DESCRS:
            fail('ERR_DTYPE', '%s: dtype %s is not supported; expected an integer dtype (%s)' % (name, json.dumps(descr), INT_NAMES))
    elif descr not in ('<f4', '<f8'):
        fail('ERR_DTYPE', "%s: dtype %s is not supported; expected '<f4' (float32) or '<f8' (float64)" % (name, json.dumps(descr)))
    if fortran.group(1) != 'False':
        fail('ERR_DTYPE', '%s: fortran_order True is not supported; save a C-contiguous array' % name)
    shape = []
    for p in (s.strip() for s in shape_text.split(',')):
        if p == '':
            continue
        if not re.fullmatch(r'\d{1,10}', p, re.A):
            fail('ERR_SHAPE', '%s: shape (%s) has an entry %s that is not a non-negative integer' % (name, shape_text, json.dumps(p)))
        shape.append(int(p))
    size = INT_DESCRS[descr] if ints else 4 if descr == '<f4' else 8
    elements = 1
    for d in shape:
        elements *= d
    if elements * size > SAFE_INT:
        fail('ERR_SHAPE', '%s: shape (%s) overflows' % (name, shape_text))
    body = b[start + length:]
    if len(body) != elements * size:
        fail('ERR_BYTE_LENGTH', '%s: %s (%s) needs %d bytes of data, has %d' % (name, descr, shape_text, elements * size, len(body)))
    data = np.frombuffer(body, dtype=descr).astype(np.float64 if ints else np.float32)
    return shape, descr, data, body


# --- safetensors (8 bytes of header length, a JSON header, the data) -------------------------

class _Pairs(list):
    pass


def parse_safetensors(b, name):
    if len(b) < 8:
        fail('ERR_FILE_TOO_SHORT', '%s: safetensors: needs at least 8 bytes (the header length), has %d' % (name, len(b)))
    n = int.from_bytes(b[:8], 'little')
    if n > MAX_SAFETENSORS_HEADER:
        fail('ERR_HEADER_LENGTH', '%s: safetensors: header length %d is above the %d-byte cap' % (name, n, MAX_SAFETENSORS_HEADER))
    if n > len(b) - 8:
        fail('ERR_HEADER_LENGTH', '%s: safetensors: header needs %d bytes after the length, the file has %d' % (name, n, len(b) - 8))
    if n < 2:
        fail('ERR_HEADER_FORMAT', '%s: safetensors: header of %d bytes cannot hold a JSON object' % (name, n))
    try:
        text = b[8:8 + n].decode('utf-8')
    except UnicodeDecodeError:
        fail('ERR_HEADER_FORMAT', '%s: safetensors: header is not valid UTF-8' % name)
    if text[0] != '{':
        fail('ERR_HEADER_FORMAT', '%s: safetensors: header must start with "{"' % name)
    try:
        top = json.loads(text, object_pairs_hook=_Pairs, parse_constant=no_constants)
    except ValueError as e:
        fail('ERR_HEADER_FORMAT', '%s: safetensors: header is not valid JSON: %s' % (name, e))
    if not isinstance(top, _Pairs):
        fail('ERR_HEADER_FORMAT', '%s: safetensors: header is not a JSON object' % name)
    seen = set()
    for key, _ in top:
        if key in seen:
            fail('ERR_DUPLICATE_TENSOR', '%s: safetensors: tensor %s appears twice in the header' % (name, json.dumps(key)))
        seen.add(key)
    buffer = b[8 + n:]
    entries = []
    for key, raw in top:
        if key == '__metadata__':
            if not isinstance(raw, _Pairs) or not all(isinstance(v, str) for _, v in raw):
                fail('ERR_HEADER_FORMAT', '%s: safetensors: __metadata__ must be an object of strings' % name)
            continue
        if not isinstance(raw, _Pairs):
            fail('ERR_HEADER_FORMAT', '%s: tensor %s: expected {dtype, shape, data_offsets}' % (name, key))
        raw = dict(raw)
        dtype = raw.get('dtype')
        shape = raw.get('shape')
        offsets = raw.get('data_offsets')
        if not isinstance(dtype, str):
            fail('ERR_HEADER_FORMAT', '%s: tensor %s: dtype must be a string' % (name, key))
        if dtype not in DTYPE_SIZES:
            fail('ERR_DTYPE', '%s: tensor %s: unknown dtype %s' % (name, key, json.dumps(dtype)))
        size = DTYPE_SIZES[dtype]
        if not isinstance(shape, list) or len(shape) > 8:
            fail('ERR_SHAPE', '%s: tensor %s: shape is not a list of at most 8 dimensions' % (name, key))
        elements = 1
        for d in shape:
            if not is_safe_int(d) or d < 0:
                fail('ERR_SHAPE', '%s: tensor %s: shape has an entry that is not a non-negative integer' % (name, key))
            elements *= int(d)
            if elements * size > SAFE_INT:
                fail('ERR_SHAPE', '%s: tensor %s: shape overflows (more than 2^53 bytes)' % (name, key))
        if not isinstance(offsets, list) or len(offsets) != 2:
            fail('ERR_OFFSETS', '%s: tensor %s: data_offsets is not [begin, end]' % (name, key))
        if not all(is_safe_int(v) and v >= 0 for v in offsets):
            fail('ERR_OFFSETS', '%s: tensor %s: data_offsets are not safe non-negative integers' % (name, key))
        begin, end = int(offsets[0]), int(offsets[1])
        if end < begin:
            fail('ERR_OFFSETS', '%s: tensor %s: data_offsets [%d, %d] run backwards' % (name, key, begin, end))
        if end > len(buffer):
            fail('ERR_OFFSETS', '%s: tensor %s: needs bytes up to %d of the data buffer, the file has %d (truncated?)' % (name, key, end, len(buffer)))
        if end - begin != elements * size:
            fail('ERR_BYTE_LENGTH', '%s: tensor %s: %s needs %d bytes, has %d' % (name, key, dtype, elements * size, end - begin))
        entries.append((key, dtype, [int(d) for d in shape], begin, end))
    covered = 0
    for key, _, _, begin, end in sorted(entries, key=lambda e: (e[3], e[4])):
        if begin != covered:
            fail('ERR_OVERLAP', '%s: tensor %s [%d, %d] overlaps or leaves a hole (the previous tensor ends at %d)' % (name, key, begin, end, covered))
        covered = end
    if covered != len(buffer):
        fail('ERR_OVERLAP', '%s: bytes %d..%d of the data buffer belong to no tensor' % (name, covered, len(buffer)))
    return entries, buffer


def safetensors_float32(dtype, raw):
    """A tensor's bytes as float32 (None for a dtype that is not a float)."""
    if dtype == 'F32':
        return np.frombuffer(raw, dtype='<f4').astype(np.float32)
    if dtype == 'F64':
        return np.frombuffer(raw, dtype='<f8').astype(np.float32)
    if dtype == 'F16':
        return np.frombuffer(raw, dtype='<f2').astype(np.float32)
    if dtype == 'BF16':
        return (np.frombuffer(raw, dtype='<u2').astype(np.uint32) << 16).view(np.float32)
    return None


# --- the bundle -------------------------------------------------------------------------------

def bad_manifest(where, expected):
    fail('ERR_MANIFEST', '%s: %s: expected %s' % (MANIFEST, where, expected))


def tolerances_of(manifest, computed):
    """{end point: (rtol, atol)} and the rule's description."""
    tol = manifest.get('tolerance')
    if manifest['format_version'] == 1:
        if (not isinstance(tol, dict) or not is_number(tol.get('rtol')) or not is_number(tol.get('atol'))
                or not tol['rtol'] >= 0 or not tol['atol'] >= 0 or not isinstance(tol.get('rule'), str)):
            bad_manifest('tolerance', '{rule, rtol >= 0, atol >= 0}')
        return {e: (float(tol['rtol']), float(tol['atol'])) for e in computed}, tol['rule'], None
    if not isinstance(tol, dict) or not isinstance(tol.get('rule'), str) or not isinstance(tol.get('derivation'), str) or not isinstance(tol.get('endpoints'), list):
        bad_manifest('tolerance', '{rule, derivation, endpoints: [{name, rtol, atol}, ...]}')
    per = {}
    names = []
    for i, t in enumerate(tol['endpoints']):
        if (not isinstance(t, dict) or not isinstance(t.get('name'), str) or not is_number(t.get('rtol')) or not is_number(t.get('atol'))
                or not (math.isfinite(t['rtol']) and t['rtol'] >= 0) or not (math.isfinite(t['atol']) and t['atol'] >= 0)):
            bad_manifest('tolerance.endpoints[%d]' % i, '{name, rtol, atol} with finite rtol >= 0 and atol >= 0')
        names.append(t['name'])
        per[t['name']] = (float(t['rtol']), float(t['atol']))
    if names != list(computed):
        bad_manifest('tolerance.endpoints', 'one entry per computed end point, in network order')
    return per, tol['rule'], tol['derivation']


def read_bundle(bundle_dir):
    path = os.path.join(bundle_dir, MANIFEST)
    raw = read_capped(path, MAX_MANIFEST_BYTES, 'bundle %s' % bundle_dir)
    try:
        m = json.loads(raw.decode('utf-8'), parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError) as e:
        fail('ERR_MANIFEST', 'bundle %s: %s is not valid UTF-8 JSON: %s' % (bundle_dir, MANIFEST, e))
    if not isinstance(m, dict):
        bad_manifest('the top level', 'a JSON object')
    if m.get('format') != FORMAT:
        bad_manifest('format', json.dumps(FORMAT))
    if m.get('format_version') not in FORMAT_VERSIONS or isinstance(m.get('format_version'), bool):
        bad_manifest('format_version', ' or '.join(str(v) for v in FORMAT_VERSIONS) + ' (this checker reads those versions)')
    config = m.get('config')
    if not isinstance(config, dict):
        bad_manifest('config', 'an object')
    if m['format_version'] == QUANT_VERSION:
        return read_quant_bundle(bundle_dir, m)
    if not is_number(config.get('alpha')) or not config['alpha'] > 0:
        bad_manifest('config.alpha', 'a number above 0')
    res = config.get('resolution')
    if not isinstance(res, list) or len(res) != 2 or not all(is_safe_int(d) and d >= 0 for d in res):
        bad_manifest('config.resolution', '[height, width]')
    if not is_safe_int(config.get('batch')) or config['batch'] < 1:
        bad_manifest('config.batch', 'a positive integer')
    if config.get('flavour') not in ('tf', 'torch'):
        bad_manifest('config.flavour', '"tf" or "torch"')
    if not is_safe_int(config.get('seed')) or config['seed'] < 0:
        bad_manifest('config.seed', 'a non-negative integer')
    if not isinstance(m.get('input'), dict) or not isinstance(m['input'].get('generator'), str):
        bad_manifest('input', '{name, layout, generator, seed} with generator a string')
    eps = m.get('endpoints')
    if (not isinstance(eps, dict) or not isinstance(eps.get('all'), list) or not isinstance(eps.get('computed'), list)
            or not all(isinstance(e, str) for e in eps['all'] + eps['computed'])):
        bad_manifest('endpoints', '{all: [names], computed: [names]}')
    computed = eps['computed']
    if not computed or any(e not in eps['all'] for e in computed):
        bad_manifest('endpoints.computed', 'a non-empty subset of endpoints.all')
    tolerances, rule, derivation = tolerances_of(m, computed)
    tensors = m.get('tensors')
    if not isinstance(tensors, list):
        bad_manifest('tensors', 'a list')
    seen = set()
    files = dict(GROUP_FILES)
    for i, t in enumerate(tensors):
        if (not isinstance(t, dict) or t.get('group') not in files or not isinstance(t.get('name'), str) or t['name'] == ''
                or t.get('file') != files[t['group']] or t.get('dtype') != 'F32'
                or not is_bundle_path(t.get('npy')) or not t['npy'].endswith('.npy') or not isinstance(t.get('shape'), list)
                or len(t['shape']) > 8 or not all(is_safe_int(d) and d >= 0 for d in t['shape'])
                or not isinstance(t.get('sha256'), str) or not re.fullmatch(r'[0-9a-f]{64}', t['sha256'])):
            bad_manifest('tensors[%d]' % i, 'an object {group, name, file, npy, dtype, shape, sha256}')
        if (t['group'], t['name']) in seen:
            fail('ERR_DUPLICATE_TENSOR', '%s: tensors[%d]: tensor %s of group %s is listed twice' % (MANIFEST, i, t['name'], t['group']))
        seen.add((t['group'], t['name']))
    inputs = [t for t in tensors if t['group'] == 'input']
    if len(inputs) != 1 or inputs[0]['name'] != 'input':
        bad_manifest('tensors', 'exactly one tensor of group input, named "input"')
    outs = [t for t in tensors if t['group'] == 'outputs']
    if [t['name'] for t in outs] != computed:
        bad_manifest('tensors (group outputs)', 'the end points %s in that order' % ', '.join(computed))

    # Every file against the manifest, as mobilenet verify checks it: the four safetensors files
    # (each listed tensor present, F32, its shape, its SHA-256; nothing unlisted), every .npy
    # file, and (format version 2) the checker and the ONNX model.
    loaded = {}
    for group, rel in GROUP_FILES:
        listed = [t for t in tensors if t['group'] == group]
        raw = read_capped(os.path.join(bundle_dir, rel), MAX_FILE_BYTES, 'bundle %s' % bundle_dir)
        entries, buffer = parse_safetensors(raw, rel)
        by_name = dict((e[0], e) for e in entries)
        for t in listed:
            if t['name'] not in by_name:
                fail('ERR_WEIGHT_MISSING', '%s: expected tensor %s (listed in %s), found none' % (rel, t['name'], MANIFEST))
            _, dtype, shape, begin, end = by_name[t['name']]
            if dtype != 'F32':
                fail('ERR_DTYPE', '%s: tensor %s: expected dtype F32, found %s' % (rel, t['name'], dtype))
            if shape != [int(d) for d in t['shape']]:
                fail('ERR_SHAPE', '%s: tensor %s: expected shape %s (the manifest), found %s' % (rel, t['name'], t['shape'], shape))
            digest = hashlib.sha256(buffer[begin:end]).hexdigest()
            if digest != t['sha256']:
                fail('ERR_MANIFEST', '%s: tensor %s: expected SHA-256 %s (the manifest), found %s: the bytes were changed' % (rel, t['name'], t['sha256'], digest))
        names = set(t['name'] for t in listed)
        unlisted = [e[0] for e in entries if e[0] not in names]
        if unlisted:
            fail('ERR_WEIGHT_UNEXPECTED', '%s: tensor %s is not listed in %s' % (rel, unlisted[0], MANIFEST))
    for t in tensors:
        rel = t['npy']
        raw = read_capped(os.path.join(bundle_dir, rel), MAX_FILE_BYTES, 'bundle %s' % bundle_dir)
        shape, descr, data, body = parse_npy(raw, rel)
        if descr != '<f4':
            fail('ERR_DTYPE', "%s: expected dtype '<f4', found %s" % (rel, json.dumps(descr)))
        if shape != [int(d) for d in t['shape']]:
            fail('ERR_SHAPE', '%s: expected shape %s (the manifest), found %s' % (rel, t['shape'], shape))
        digest = hashlib.sha256(body).hexdigest()
        if digest != t['sha256']:
            fail('ERR_MANIFEST', '%s: tensor %s: expected SHA-256 %s (the manifest), found %s: the bytes were changed' % (rel, t['name'], t['sha256'], digest))
        if t['group'] in ('input', 'outputs'):
            loaded[(t['group'], t['name'])] = (shape, data)
    if m['format_version'] >= 2:
        for key, name in (('checker', CHECKER), ('onnx', ONNX)):
            entry = m.get(key)
            if entry is None and key == 'onnx':
                continue
            if not isinstance(entry, dict) or entry.get('file') != name or not isinstance(entry.get('sha256'), str) or not re.fullmatch(r'[0-9a-f]{64}', entry['sha256']):
                bad_manifest(key, '{file: "%s", sha256, ...}' % name)
            digest = hashlib.sha256(read_capped(os.path.join(bundle_dir, name), MAX_FILE_BYTES, 'bundle %s' % bundle_dir)).hexdigest()
            if digest != entry['sha256']:
                fail('ERR_MANIFEST', '%s: expected SHA-256 %s (the manifest), found %s: the file was changed' % (name, entry['sha256'], digest))

    return {
        'dir': bundle_dir,
        'manifest': m,
        'input': loaded[('input', 'input')],
        'outputs': [(t['name'], t['npy']) + loaded[('outputs', t['name'])] for t in outs],
        'tolerances': tolerances,
        'rule': rule,
        'derivation': derivation,
    }


# --- quantized bundles (format version 3): integers, compared exactly --------------------------

def read_quant_bundle(bundle_dir, m):
    if m.get('kind') != 'quantized':
        bad_manifest('kind', '"quantized"')
    model = m.get('model')
    if not isinstance(model, dict) or model.get('file') != TFLITE or not isinstance(model.get('sha256'), str) or not re.fullmatch(r'[0-9a-f]{64}', model['sha256']):
        bad_manifest('model', '{file: "%s", sha256, ...}' % TFLITE)
    config = m['config']
    res = config.get('resolution')
    if (not isinstance(res, list) or len(res) != 2 or not all(is_safe_int(d) and d >= 0 for d in res)
            or not is_safe_int(config.get('batch')) or config['batch'] < 1):
        bad_manifest('config', '{alpha, resolution: [height, width], batch, ...}')
    if config.get('seed') is not None and not (is_safe_int(config.get('seed')) and config['seed'] >= 0):
        bad_manifest('config.seed', 'null or a non-negative integer')
    if not is_number(config.get('alpha')) or config.get('dtype') not in ('uint8', 'int8'):
        bad_manifest('config', '{alpha: a number, dtype: "uint8" or "int8"}')
    inp = m.get('input')
    if not isinstance(inp, dict) or inp.get('source') not in ('images', 'seeded'):
        bad_manifest('input', '{name, layout, dtype, source: "images" or "seeded", ...}')
    if inp['source'] == 'images' and (not isinstance(inp.get('images'), list) or not all(isinstance(n, str) for n in inp['images'])):
        bad_manifest('input.images', 'a list of file names')
    eps = m.get('endpoints')
    if (not isinstance(eps, dict) or not isinstance(eps.get('all'), list) or not isinstance(eps.get('computed'), list)
            or not all(isinstance(e, str) for e in eps['all'] + eps['computed'])):
        bad_manifest('endpoints', '{all: [names], computed: [names]}')
    computed = eps['computed']
    if not computed or any(e not in eps['all'] for e in computed):
        bad_manifest('endpoints.computed', 'a non-empty subset of endpoints.all')
    tol = m.get('tolerance')
    if not isinstance(tol, dict) or tol.get('exact') is not True or not isinstance(tol.get('rule'), str):
        bad_manifest('tolerance', '{rule, exact: true} (a quantized bundle compares exactly)')
    checker = m.get('checker')
    if not isinstance(checker, dict) or checker.get('file') != CHECKER or not isinstance(checker.get('sha256'), str) or not re.fullmatch(r'[0-9a-f]{64}', checker['sha256']):
        bad_manifest('checker', '{file: "%s", sha256, ...}' % CHECKER)
    tensors = m.get('tensors')
    if not isinstance(tensors, list):
        bad_manifest('tensors', 'a list')
    files = {'input': 'input.safetensors', 'outputs': 'outputs.safetensors'}
    seen = set()
    for i, t in enumerate(tensors):
        if (not isinstance(t, dict) or t.get('group') not in files or not isinstance(t.get('name'), str) or t['name'] == ''
                or t.get('file') != files[t['group']] or t.get('dtype') not in ('U8', 'I8')
                or t.get('npy') != ('npy/input.npy' if t['group'] == 'input' else 'npy/outputs/%s.npy' % t['name'])
                or not isinstance(t.get('shape'), list) or len(t['shape']) > 8 or not all(is_safe_int(d) and d >= 0 for d in t['shape'])
                or not is_number(t.get('scale')) or not math.isfinite(t['scale']) or not t['scale'] > 0 or not is_safe_int(t.get('zero_point'))
                or not isinstance(t.get('sha256'), str) or not re.fullmatch(r'[0-9a-f]{64}', t['sha256'])):
            bad_manifest('tensors[%d]' % i, 'an object {group, name, file, npy, dtype, shape, scale, zero_point, sha256}')
        if (t['group'], t['name']) in seen:
            fail('ERR_DUPLICATE_TENSOR', '%s: tensors[%d]: tensor %s of group %s is listed twice' % (MANIFEST, i, t['name'], t['group']))
        seen.add((t['group'], t['name']))
    inputs = [t for t in tensors if t['group'] == 'input']
    if len(inputs) != 1 or inputs[0]['name'] != 'input':
        bad_manifest('tensors', 'exactly one tensor of group input, named "input"')
    outs = [t for t in tensors if t['group'] == 'outputs']
    if [t['name'] for t in outs] != computed:
        bad_manifest('tensors (group outputs)', 'the end points %s in that order' % ', '.join(computed))

    loaded = {}
    for group in ('input', 'outputs'):
        rel = files[group]
        listed = [t for t in tensors if t['group'] == group]
        raw = read_capped(os.path.join(bundle_dir, rel), MAX_FILE_BYTES, 'bundle %s' % bundle_dir)
        entries, buffer = parse_safetensors(raw, rel)
        by_name = dict((e[0], e) for e in entries)
        for t in listed:
            if t['name'] not in by_name:
                fail('ERR_WEIGHT_MISSING', '%s: expected tensor %s (listed in %s), found none' % (rel, t['name'], MANIFEST))
            _, dtype, shape, begin, end = by_name[t['name']]
            if dtype != t['dtype']:
                fail('ERR_DTYPE', '%s: tensor %s: expected dtype %s (the manifest), found %s' % (rel, t['name'], t['dtype'], dtype))
            if shape != [int(d) for d in t['shape']]:
                fail('ERR_SHAPE', '%s: tensor %s: expected shape %s (the manifest), found %s' % (rel, t['name'], t['shape'], shape))
            digest = hashlib.sha256(buffer[begin:end]).hexdigest()
            if digest != t['sha256']:
                fail('ERR_MANIFEST', '%s: tensor %s: expected SHA-256 %s (the manifest), found %s: the bytes were changed' % (rel, t['name'], t['sha256'], digest))
            raw_t = buffer[begin:end]
            loaded[(group, t['name'])] = (shape, np.frombuffer(raw_t, dtype=SAFETENSORS_INTS[dtype]).astype(np.float64), bytes(raw_t))
        names = set(t['name'] for t in listed)
        unlisted = [e[0] for e in entries if e[0] not in names]
        if unlisted:
            fail('ERR_WEIGHT_UNEXPECTED', '%s: tensor %s is not listed in %s' % (rel, unlisted[0], MANIFEST))
    for t in tensors:
        rel = t['npy']
        raw = read_capped(os.path.join(bundle_dir, rel), MAX_FILE_BYTES, 'bundle %s' % bundle_dir)
        shape, descr, _, body = parse_npy(raw, rel, ints=True)
        want = '|u1' if t['dtype'] == 'U8' else '|i1'
        if descr != want:
            fail('ERR_DTYPE', "%s: expected dtype '%s', found %s" % (rel, want, json.dumps(descr)))
        if shape != [int(d) for d in t['shape']]:
            fail('ERR_SHAPE', '%s: expected shape %s (the manifest), found %s' % (rel, t['shape'], shape))
        digest = hashlib.sha256(body).hexdigest()
        if digest != t['sha256']:
            fail('ERR_MANIFEST', '%s: tensor %s: expected SHA-256 %s (the manifest), found %s: the bytes were changed' % (rel, t['name'], t['sha256'], digest))
    for entry in (model, checker):
        digest = hashlib.sha256(read_capped(os.path.join(bundle_dir, entry['file']), MAX_FILE_BYTES, 'bundle %s' % bundle_dir)).hexdigest()
        if digest != entry['sha256']:
            fail('ERR_MANIFEST', '%s: expected SHA-256 %s (the manifest), found %s: the file was changed' % (entry['file'], entry['sha256'], digest))
    return {
        'dir': bundle_dir,
        'manifest': m,
        'quantized': True,
        'input': loaded[('input', 'input')],
        'outputs': [(t['name'], t['npy']) + loaded[('outputs', t['name'])][:2] + (float(t['scale']), int(t['zero_point'])) for t in outs],
    }


def load_quant_other(path, bundle):
    expected = 'a safetensors file, a folder of .npy files or a bundle folder'
    try:
        st = os.stat(path)
    except OSError as e:
        fail('ERR_IO', 'OUTPUTS %s: expected %s, found nothing (%s)' % (path, expected, e.strerror))
    wanted = set(o[0] for o in bundle['outputs'])
    tensors = {}
    if stat.S_ISREG(st.st_mode):
        raw = read_capped(path, MAX_FILE_BYTES, 'OUTPUTS')
        entries, buffer = parse_safetensors(raw, path)
        for key, dtype, shape, begin, end in entries:
            if key not in wanted:
                continue
            if dtype in SAFETENSORS_INTS:
                tensors[key] = (shape, np.frombuffer(buffer[begin:end], dtype=SAFETENSORS_INTS[dtype]).astype(np.float64))
            elif safetensors_float32(dtype, buffer[begin:end]) is not None:
                fail('ERR_DTYPE', '%s: tensor %s: dtype %s is a float; this bundle is quantized and compares integers exactly: save the integer outputs (expected U8, I8, U16, I16, U32, I32, U64 or I64)' % (path, key, dtype))
            else:
                fail('ERR_DTYPE', '%s: tensor %s: dtype %s is not supported (expected U8, I8, U16, I16, U32, I32, U64 or I64)' % (path, key, dtype))
        return 'safetensors', tensors
    if not stat.S_ISDIR(st.st_mode):
        fail('ERR_IO', 'OUTPUTS %s: expected %s, found a device, pipe or socket (not a regular file)' % (path, expected))
    entries = os.listdir(path)
    if MANIFEST in entries:
        try:
            version = json.loads(read_capped(os.path.join(path, MANIFEST), MAX_MANIFEST_BYTES, 'OUTPUTS').decode('utf-8')).get('format_version')
        except (BadInput, ValueError, UnicodeDecodeError, AttributeError):
            version = None
        if version != QUANT_VERSION:
            fail('ERR_DTYPE', 'OUTPUTS %s: a float golden bundle (format version %s); this bundle is quantized and compares integers exactly: give a quantized bundle (format version 3) or integer outputs' % (path, json.dumps(version)))
        other = read_bundle(path)
        if other['input'][2] != bundle['input'][2] or other['manifest']['input'].get('dtype') != bundle['manifest']['input'].get('dtype'):
            fail('ERR_INPUT', 'the bundle %s was computed on another input (shape %s; expected shape %s)' % (path, other['input'][0], bundle['input'][0]))
        return 'bundle', {o[0]: (o[2], o[3]) for o in other['outputs']}
    for name, rel, _, _, _, _ in bundle['outputs']:
        for candidate in (rel.split('/')[-1], rel):
            if candidate.split('/')[0] not in entries:
                continue
            file = os.path.join(path, candidate)
            if not os.path.exists(file):
                continue
            raw = read_capped(file, MAX_FILE_BYTES, 'OUTPUTS')
            shape, _, data, _ = parse_npy(raw, file, ints=True)
            tensors[name] = (shape, data)
            break
    return 'npy', tensors


def compare_exact(name, golden_shape, golden, other, scale, zero_point):
    result = {'name': name, 'shape': list(golden_shape), 'scale': scale, 'zeroPoint': zero_point}
    if other is None:
        result['status'] = 'missing'
        return result
    other_shape, o = other
    if squeeze(golden_shape) != squeeze(other_shape):
        result.update(status='fail', otherShape=list(other_shape),
                      reason='shape [%s], expected [%s] (NHWC)' % (','.join(map(str, other_shape)), ','.join(map(str, golden_shape))))
        return result
    d = np.abs(o.astype(np.float64) - golden)
    differing = int(np.count_nonzero(d))
    worst = int(np.argmax(d)) if d.size else 0
    max_abs = float(d[worst]) if d.size else 0.0
    passed = differing == 0
    result.update(status='pass' if passed else 'fail', otherShape=list(other_shape), differing=differing, entries=int(golden.size),
                  maxAbsError=max_abs, worstIndex=worst)
    if not passed:
        result['reason'] = '%d of %d entries differ, by up to %d level%s (element %d: golden %d, other %d)' % (
            differing, golden.size, max_abs, '' if max_abs == 1 else 's', worst, golden[worst], o[worst])
    return result


def verify_quant(bundle, other_path):
    kind, tensors = load_quant_other(other_path, bundle)
    results = [compare_exact(name, shape, data, tensors.get(name), scale, zp) for name, _, shape, data, scale, zp in bundle['outputs']]
    compared = sum(1 for r in results if r['status'] != 'missing')
    if compared == 0:
        found = sorted(tensors)
        fail('ERR_WEIGHT_MISSING', 'verify: %s holds none of the bundle\'s end points; expected tensors named %s, ... found %s' % (
            other_path, ', '.join(o[0] for o in bundle['outputs'][:5]), ', '.join(found[:5]) if found else 'no tensors'))
    failed = [r for r in results if r['status'] == 'fail']
    return {
        'bundle': bundle['dir'],
        'other': {'kind': kind, 'path': other_path},
        'tolerance': {'rule': bundle['manifest']['tolerance']['rule'], 'exact': True},
        'endpoints': results,
        'compared': compared,
        'failed': len(failed),
        'missing': len(results) - compared,
        'firstDivergence': failed[0]['name'] if failed else None,
        'passed': not failed,
    }


def sci4(v):
    """As JavaScript's v.toExponential(4): the exact value rounded half up (not Python's half to even)."""
    d = decimal.Decimal(v)
    if d == 0:
        return '0.0000e+0'
    exponent = d.adjusted()
    q = d.scaleb(-exponent).quantize(decimal.Decimal('1.0000'), rounding=decimal.ROUND_HALF_UP)
    if abs(q) >= 10:
        exponent += 1
        q = d.scaleb(-exponent).quantize(decimal.Decimal('1.0000'), rounding=decimal.ROUND_HALF_UP)
    return '%se%+d' % (q, exponent)


def format_quant_report(report, bundle):
    m = bundle['manifest']
    c = m['config']
    source = 'images %s' % ', '.join(m['input'].get('images') or []) if m['input'].get('source') == 'images' else 'seed %s' % c.get('seed')
    lines = [
        'bundle %s: %s (%s, alpha %s, %sx%s), batch %s, %s' % (report['bundle'], m['model'].get('source'), m['model'].get('dtype'), c.get('alpha'),
                                                                c['resolution'][0], c['resolution'][1], c['batch'], source),
        'other  %s (%s)' % (report['other']['path'], report['other']['kind']),
        'rule   exact: integer equality on every entry (tolerance 0)',
        '',
    ]
    width = max([10] + [len(e['name']) for e in report['endpoints']])
    lines.append('%s  %s  %11s  %4s  %9s  %8s  result' % ('end point'.ljust(width), 'shape'.ljust(18), 'scale', 'zero', 'differing', 'max diff'))
    for e in report['endpoints']:
        if e['status'] == 'pass':
            result = 'pass'
        elif e['status'] == 'missing':
            result = 'missing'
        else:
            result = 'FAIL' + (' (%s)' % e['reason'] if e.get('reason') else '')
        lines.append('%s  %s  %11s  %4d  %9s  %8s  %s' % (
            e['name'].ljust(width), ('[%s]' % ','.join(map(str, e['shape']))).ljust(18), sci4(e['scale']), e['zeroPoint'],
            '-' if e.get('differing') is None else e['differing'], '-' if e.get('maxAbsError') is None else '%d' % e['maxAbsError'], result))
    lines.append('')
    if report['firstDivergence']:
        first = [e for e in report['endpoints'] if e['name'] == report['firstDivergence']][0]
        lines.append('first divergence: %s%s' % (first['name'], ' (%s)' % first['reason'] if first.get('reason') else ''))
    missing = ', %d missing' % report['missing'] if report['missing'] > 0 else ''
    if report['passed']:
        lines.append('PASS: %d end points equal%s' % (report['compared'], missing))
    else:
        lines.append('FAIL: %d of %d end points differ%s' % (report['failed'], report['compared'], missing))
    return '\n'.join(lines) + '\n'


def load_other(path, bundle):
    expected = 'a safetensors file, a folder of .npy files or a bundle folder'
    try:
        st = os.stat(path)
    except OSError as e:
        fail('ERR_IO', 'OUTPUTS %s: expected %s, found nothing (%s)' % (path, expected, e.strerror))
    wanted = set(name for name, _, _, _ in bundle['outputs'])
    tensors = {}
    if stat.S_ISREG(st.st_mode):
        raw = read_capped(path, MAX_FILE_BYTES, 'OUTPUTS')
        entries, buffer = parse_safetensors(raw, path)
        for key, dtype, shape, begin, end in entries:
            data = safetensors_float32(dtype, buffer[begin:end])
            if data is not None:
                tensors[key] = (shape, data)
            elif key in wanted:
                fail('ERR_DTYPE', '%s: tensor %s: dtype %s is not a float dtype (expected F32, F64, F16 or BF16)' % (path, key, dtype))
        return 'safetensors', tensors
    if not stat.S_ISDIR(st.st_mode):
        fail('ERR_IO', 'OUTPUTS %s: expected %s, found a device, pipe or socket (not a regular file)' % (path, expected))
    entries = os.listdir(path)
    if MANIFEST in entries:
        other = read_bundle(path)
        if other.get('quantized'):
            fail('ERR_DTYPE', 'OUTPUTS %s: a quantized golden bundle (format version 3, integers); this bundle is float: give float outputs' % path)
        a, b = bundle['input'][1], other['input'][1]
        if a.size != b.size or a.tobytes() != b.tobytes():
            fail('ERR_INPUT', 'the bundle %s was computed on another input (seed %s, shape %s; expected seed %s, shape %s)' % (
                path, other['manifest']['config'].get('seed'), other['input'][0], bundle['manifest']['config'].get('seed'), bundle['input'][0]))
        return 'bundle', {name: (shape, data) for name, _, shape, data in other['outputs']}
    for name, rel, _, _ in bundle['outputs']:
        for candidate in (rel.split('/')[-1], rel):
            if candidate.split('/')[0] not in entries:
                continue
            file = os.path.join(path, candidate)
            if not os.path.exists(file):
                continue
            raw = read_capped(file, MAX_FILE_BYTES, 'OUTPUTS')
            shape, _, data, _ = parse_npy(raw, file)
            tensors[name] = (shape, data)
            break
    return 'npy', tensors


# --- the comparison ---------------------------------------------------------------------------

def squeeze(shape):
    return [d for d in shape if d != 1]


def compare_endpoint(name, golden_shape, golden, other, rtol, atol):
    result = {'name': name, 'shape': list(golden_shape)}
    if other is None:
        result['status'] = 'missing'
        return result
    other_shape, o = other
    if squeeze(golden_shape) != squeeze(other_shape):
        result.update(status='fail', otherShape=list(other_shape),
                      reason='shape [%s], expected [%s] (NHWC)' % (','.join(map(str, other_shape)), ','.join(map(str, golden_shape))))
        return result
    g64 = golden.astype(np.float64)
    if g64.size == 0:
        max_abs, scale, worst = 0.0, 0.0, 0
    else:
        d = np.abs(o.astype(np.float64) - g64)
        d[np.isnan(d)] = np.inf
        worst = int(np.argmax(d))
        max_abs = float(d[worst])
        scale = float(np.max(np.abs(g64)))
    allowed = max(atol, rtol * scale)
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf)
    passed = max_abs <= allowed
    result.update(status='pass' if passed else 'fail', otherShape=list(other_shape), maxAbsError=max_abs, maxRelError=max_rel,
                  allowed=allowed, rtol=rtol, atol=atol, worstIndex=worst)
    if not passed:
        result['reason'] = 'element %d: golden %r, other %r' % (worst, float(golden[worst]), float(o[worst]))
    return result


def verify(bundle_dir, other_path):
    bundle = read_bundle(bundle_dir)
    if bundle.get('quantized'):
        return verify_quant(bundle, other_path), bundle
    kind, tensors = load_other(other_path, bundle)
    results = []
    for name, _, shape, data in bundle['outputs']:
        rtol, atol = bundle['tolerances'][name]
        results.append(compare_endpoint(name, shape, data, tensors.get(name), rtol, atol))
    compared = sum(1 for r in results if r['status'] != 'missing')
    if compared == 0:
        found = sorted(tensors)
        fail('ERR_WEIGHT_MISSING', 'verify: %s holds none of the bundle\'s end points; expected tensors named %s, ... found %s' % (
            other_path, ', '.join(name for name, _, _, _ in bundle['outputs'][:5]), ', '.join(found[:5]) if found else 'no tensors'))
    failed = [r for r in results if r['status'] == 'fail']
    report = {
        'bundle': bundle_dir,
        'other': {'kind': kind, 'path': other_path},
        'tolerance': {'rule': bundle['rule'], **({'derivation': bundle['derivation']} if bundle['derivation'] else {})},
        'endpoints': results,
        'compared': compared,
        'failed': len(failed),
        'missing': len(results) - compared,
        'firstDivergence': failed[0]['name'] if failed else None,
        'passed': not failed,
    }
    return report, bundle


def json_value(v):
    """As JavaScript's JSON.stringify writes numbers: a non-finite number is null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: json_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [json_value(x) for x in v]
    return v


def sci(v):
    if v is None:
        return '-'
    if not math.isfinite(v):
        return 'Infinity' if v > 0 else 'NaN'
    mantissa, exponent = ('%.2e' % v).split('e')
    return '%se%+d' % (mantissa, int(exponent))


def format_report(report, bundle):
    if bundle.get('quantized'):
        return format_quant_report(report, bundle)
    c = bundle['manifest']['config']
    res = c.get('resolution') or ['?', '?']
    lines = [
        'bundle %s: alpha %s, %sx%s, seed %s, flavour %s, batch %s' % (report['bundle'], c.get('alpha'), res[0], res[1], c.get('seed'), c.get('flavour'), c.get('batch')),
        'other  %s (%s)' % (report['other']['path'], report['other']['kind']),
        'rule   %s%s' % (report['tolerance']['rule'], " (rtol per end point, see the manifest's tolerance.derivation)" if report['tolerance'].get('derivation')
                             else ' (rtol %r, atol %r)' % (bundle['manifest']['tolerance']['rtol'], bundle['manifest']['tolerance']['atol'])),
        '',
    ]
    width = max([10] + [len(e['name']) for e in report['endpoints']])
    lines.append('%s  %s  %11s  %11s  %11s  %11s  result' % ('end point'.ljust(width), 'shape'.ljust(18), 'max abs err', 'max rel err', 'rtol', 'allowed abs'))
    for e in report['endpoints']:
        if e['status'] == 'pass':
            result = 'pass'
        elif e['status'] == 'missing':
            result = 'missing'
        else:
            result = 'FAIL' + (' (%s)' % e['reason'] if e.get('reason') else '')
        rtol = bundle['tolerances'][e['name']][0]
        lines.append('%s  %s  %11s  %11s  %11s  %11s  %s' % (
            e['name'].ljust(width), ('[%s]' % ','.join(map(str, e['shape']))).ljust(18), sci(e.get('maxAbsError')), sci(e.get('maxRelError')),
            sci(rtol), sci(e.get('allowed')), result))
    lines.append('')
    if report['firstDivergence']:
        first = [e for e in report['endpoints'] if e['name'] == report['firstDivergence']][0]
        lines.append('first divergence: %s (max rel err %s%s)' % (first['name'], sci(first.get('maxRelError')), '; ' + first['reason'] if first.get('reason') else ''))
    missing = ', %d missing' % report['missing'] if report['missing'] > 0 else ''
    if report['passed']:
        lines.append('PASS: %d end points within tolerance%s' % (report['compared'], missing))
    else:
        lines.append('FAIL: %d of %d end points diverge%s' % (report['failed'], report['compared'], missing))
    return '\n'.join(lines) + '\n'


def main(argv):
    args = [a for a in argv if a != '--json']
    as_json = len(args) != len(argv)
    if len(args) != 2 or any(a.startswith('-') and a != '-' for a in args):
        sys.stderr.write('usage: python3 verify_golden.py BUNDLE_DIR OUTPUTS [--json]\n')
        return 2
    try:
        report, bundle = verify(args[0], args[1])
    except BadInput as e:
        sys.stderr.write('verify_golden.py: %s: %s\n' % (e.code, ' '.join(str(e).split())))
        return 2
    sys.stdout.write(json.dumps(json_value(report), indent=2) + '\n' if as_json else format_report(report, bundle))
    return 0 if report['passed'] else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
