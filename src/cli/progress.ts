// Progress of long work on a terminal: a bar redrawn in place when the stream is a TTY, a few
// plain lines (every 25%) when it is a file or a pipe.

export interface Progress {
  /** Reports `done` of `total` units (bytes). */
  update(done: number, total: number): void;
  /** Ends the bar (a newline on a TTY). */
  finish(): void;
}

const WIDTH = 30;
const REDRAW_MS = 100;

export function progress(stream: NodeJS.WriteStream, label: string): Progress {
  const tty = stream.isTTY === true;
  let lastDraw = 0;
  let lastQuarter = -1;
  let drawn = false;
  return {
    update(done, total) {
      const fraction = total > 0 ? Math.min(1, done / total) : 1;
      const percent = Math.floor(fraction * 100);
      const sizes = `${mib(done)} of ${mib(total)}`;
      if (tty) {
        const at = Date.now();
        if (at - lastDraw < REDRAW_MS && fraction < 1) return;
        lastDraw = at;
        const filled = Math.round(fraction * WIDTH);
        stream.write(
          `\r${label} [${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${String(percent).padStart(3)}% ${sizes}`,
        );
        drawn = true;
        return;
      }
      const quarter = Math.floor(percent / 25);
      if (quarter > lastQuarter) {
        lastQuarter = quarter;
        stream.write(`${label}: ${percent}% (${sizes})\n`);
      }
    },
    finish() {
      if (tty && drawn) stream.write('\n');
    },
  };
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
