/**
 * The progress display on stderr: on a terminal, one line rewritten in place with the stage,
 * counts, what runs now and the elapsed time; elsewhere (a pipe, CI) only one line per stage,
 * when it ends.
 */
export interface ProgressSink {
  isTTY: boolean;
  write(text: string): void;
}

const clock = (ms: number) => {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
};

export class Progress {
  private stage = '';
  private total = 0;
  private done = 0;
  private readonly start = performance.now();
  private stageStart = this.start;
  private lastWidth = 0;

  constructor(private readonly sink: ProgressSink = { isTTY: Boolean(process.stderr.isTTY), write: (t) => void process.stderr.write(t) }) {}

  /** Starts a stage of `total` steps. */
  begin(stage: string, total: number): void {
    this.stage = stage;
    this.total = total;
    this.done = 0;
    this.stageStart = performance.now();
    if (this.sink.isTTY) this.draw('');
  }

  /** Shows what runs now; `step` counts it as one step done. */
  update(what: string, step = false): void {
    if (step) this.done++;
    if (this.sink.isTTY) this.draw(what);
  }

  /** Ends the stage with a summary line (also when stderr is not a terminal). */
  end(summary = ''): void {
    const line = `[${this.stage}] ${this.done}/${this.total} done in ${clock(performance.now() - this.stageStart)}, ${clock(performance.now() - this.start)} elapsed${summary ? `: ${summary}` : ''}`;
    this.sink.write(this.sink.isTTY ? `\r${line.padEnd(this.lastWidth)}\n` : `${line}\n`);
    this.lastWidth = 0;
  }

  /** A message on its own line; off a terminal only when `always`. */
  note(text: string, always = false): void {
    if (this.sink.isTTY) this.sink.write(`\r${' '.repeat(this.lastWidth)}\r${text}\n`);
    else if (always) this.sink.write(`${text}\n`);
    this.lastWidth = 0;
  }

  private draw(what: string): void {
    const line = `[${this.stage}] ${this.done}/${this.total} ${what} | ${clock(performance.now() - this.start)} elapsed`.slice(0, 150);
    this.sink.write(`\r${line.padEnd(this.lastWidth)}`);
    this.lastWidth = line.length;
  }
}
