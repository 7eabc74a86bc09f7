// A `.wasm` file imported as a module: a compiled WebAssembly.Module (Cloudflare Workers' CompiledWasm).
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
