#!/usr/bin/env bash
# Regenerates src/formats/tflite-schema/generated/ (TypeScript table builders and readers) from
# the vendored TFLite schema subsets beside it, with flatc 2.0.8 (Debian: flatbuffers-compiler).
# The generated files are committed; the build does not need flatc. flatc 2.0.8 writes relative
# imports without an extension, which NodeNext module resolution needs: `.js` is appended.
set -euo pipefail
cd "$(dirname "$0")/../src/formats/tflite-schema"
command -v flatc >/dev/null || { echo "flatc not found (apt-get install flatbuffers-compiler)" >&2; exit 1; }
rm -rf generated
flatc --ts -o generated schema.fbs metadata_schema.fbs
find generated -name '*.ts' -exec sed -i -E "s#(from '\.{1,2}/[^']+)';#\1.js';#" {} +
echo "generated with $(flatc --version)"
