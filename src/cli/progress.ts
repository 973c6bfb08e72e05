// Progress of work on several items (servers being started, for example). On a terminal one line
// is redrawn in place with a spinner and the items still running; when piped, each item gets one
// plain line as it finishes, so that logs and tests read the same text without escape codes.
export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

export interface Progress {
  /** Reports one item finished, with the line to keep for it. */
  done(item: string, line: string): void;
  /** Stops the spinner; the lines already printed stay. */
  stop(): void;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export function startProgress(stream: ProgressStream, title: string, items: string[]): Progress {
  const running = new Set(items);
  if (stream.isTTY !== true) {
    stream.write(`${title} (${items.length})\n`);
    return {
      done: (item, line) => {
        running.delete(item);
        stream.write(`${line}\n`);
      },
      stop: () => {},
    };
  }
  let frame = 0;
  const draw = () => {
    const left = [...running];
    const shown = left.slice(0, 3).join(', ') + (left.length > 3 ? `, +${left.length - 3}` : '');
    stream.write(
      `\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} ${title}: ${items.length - left.length}/${items.length}  ${shown}`,
    );
  };
  const timer = setInterval(draw, 100);
  draw();
  return {
    done: (item, line) => {
      running.delete(item);
      stream.write(`\r\x1b[2K${line}\n`);
      draw();
    },
    stop: () => {
      clearInterval(timer);
      stream.write('\r\x1b[2K');
    },
  };
}
