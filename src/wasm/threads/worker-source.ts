/**
 * The thread worker's script, as text: a worker started from a string (Node's `eval: true`, a
 * Blob URL in browsers) needs no file beside the package, so every runtime and bundler starts
 * the same code, from the sources as from dist/. Plain ES2017, no imports: the platform puts in
 * front of it a prelude that defines
 *
 *   port.post(message)     send to the host
 *   port.once(handler)     the first message from the host
 *   exitSelf(code)         end this worker (only the test hook uses it)
 *
 * The worker instantiates the threads build over the model's shared memory, says `ready`, then
 * loops: sleep in Atomics.wait until the run generation changes; wait for GO (the host copies
 * the input while the workers wake: a short spin, then Atomics.wait); for each step of the run, take
 * items (run_tiles), then (but after the last step) wait until the step's done counter reaches
 * its item count (a short spin, then Atomics.wait); count itself finished. It never returns to its event loop while the
 * model lives; `dispose()` ends it (exit command, then terminate). See src/wasm/threads/pool.ts
 * for the control block (the `L` offsets come with the first message). The view `i32` over the
 * memory's first buffer stays valid when the memory grows (the control block lies below). A
 * trap in the kernels flags FAILED = 2 (the host reports ERR_KERNEL). After the last step of a
 * run a worker touches nothing of it: it counts itself finished without that step's barrier
 * (the host waits for the step), so the next run need not wait for it to wake.
 *
 * Test hook (HOOK_* words, set only by tests): at step HOOK_STEP - 1, the worker HOOK_THREAD
 * takes one item and, instead of running it, exits (mode 1), throws (mode 2), hangs (mode 3) or
 * traps as a kernel would (mode 4).
 */
export const THREAD_WORKER_BODY = `
port.once(function (init) {
  var L = init.layout;
  var memory = init.memory;
  var thread = init.thread;
  var spin = init.spin;
  var asyncHost = init.asyncHost;
  var threads = init.threads;
  var run;
  try {
    run = new WebAssembly.Instance(init.module, { env: { memory: memory } }).exports.run_tiles;
  } catch (e) {
    port.post({ type: 'error', message: 'cannot instantiate the threads build: ' + (e && e.message ? e.message : e) });
    return;
  }
  var i32 = new Int32Array(memory.buffer);
  var c = init.ctrl >> 2;
  var GEN = c + L.GEN, CMD = c + L.CMD, FIRST = c + L.FIRST, LAST = c + L.LAST, FAILED = c + L.FAILED;
  var FIN = c + L.FIN, GO = c + L.GO, HOOK_STEP = c + L.HOOK_STEP, HOOK_THREAD = c + L.HOOK_THREAD, HOOK_MODE = c + L.HOOK_MODE;
  var gen = init.gen;
  port.post({ type: 'ready' });
  for (;;) {
    while (Atomics.load(i32, GEN) === gen) Atomics.wait(i32, GEN, gen);
    gen = Atomics.load(i32, GEN);
    if (Atomics.load(i32, CMD) !== 0) break;
    var first = Atomics.load(i32, FIRST), last = Atomics.load(i32, LAST);
    for (var w = 0; ; w++) {
      var go = Atomics.load(i32, GO);
      if (go === gen || Atomics.load(i32, FAILED) !== 0) break;
      if (w >= spin) Atomics.wait(i32, GO, go);
    }
    for (var s = first; s <= last; s++) {
      if (Atomics.load(i32, FAILED) !== 0) break;
      var counter = init.ctrl + L.COUNTERS + s * L.COUNTER_BYTES;
      var desc = init.ctrl + L.DESCS + s * L.DESC_BYTES;
      var mode = 0;
      if (Atomics.load(i32, HOOK_STEP) === s + 1 && Atomics.load(i32, HOOK_THREAD) === thread) {
        Atomics.add(i32, counter >> 2, 1);
        mode = Atomics.load(i32, HOOK_MODE);
        if (mode === 1) exitSelf(7);
        if (mode === 2) throw new Error('test hook: thread worker ' + thread + ' throws at step ' + s);
        if (mode === 3) for (;;) Atomics.wait(i32, HOOK_MODE, mode);
      }
      var done = (counter + L.DONE) >> 2;
      var finished;
      try {
        if (mode === 4) throw new WebAssembly.RuntimeError('unreachable (test hook)');
        finished = run(desc, counter, thread);
      } catch (e) {
        Atomics.store(i32, FAILED, 2);
        Atomics.notify(i32, done);
        Atomics.notify(i32, FIN);
        port.post({ type: 'error', trapped: true, message: 'the kernels trapped in step ' + s + ' (' + (e && e.message ? e.message : e) + ')' });
        return;
      }
      if (finished === 1) Atomics.notify(i32, done);
      if (s === last) break;
      var items = i32[(desc >> 2) + 1];
      for (var n = 0; ; n++) {
        var v = Atomics.load(i32, done);
        if (v >= items || Atomics.load(i32, FAILED) !== 0) break;
        if (n >= spin) Atomics.wait(i32, done, v);
      }
    }
    var runs = Atomics.add(i32, FIN, 1) + 1;
    Atomics.notify(i32, FIN);
    if (asyncHost && runs % threads === 0) port.post({ type: 'done', gen: gen });
  }
  exitSelf(0);
});
`;
