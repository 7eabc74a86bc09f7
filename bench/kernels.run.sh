#!/usr/bin/env bash
# Builds the kernels and the TypeScript into /tmp, then runs a kernel benchmark script:
#   bench/kernels.run.sh model    whole model, ours vs TF.js wasm, per-layer profile, cold start
#   bench/kernels.run.sh layers   tinybench over the 28 layer shapes of alpha 1.0@224
set -euo pipefail
cd "$(dirname "$0")/.."
npx asc assembly/index.ts --target release >/dev/null 2>&1
npx tsc -p bench/kernels.tsconfig.json
OUT=/tmp/mobilenet-wasm-bench
echo '{"type":"module"}' > "$OUT/package.json"
ln -sfn "$PWD/node_modules" "$OUT/node_modules"
case "${1:-model}" in
  model) exec node /tmp/mobilenet-wasm-bench/bench/kernels-model.js "${@:2}" ;;
  layers) exec node /tmp/mobilenet-wasm-bench/bench/kernels.bench.js "${@:2}" ;;
esac
