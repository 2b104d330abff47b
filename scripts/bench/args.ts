/** The command-line options of the bench tools: one handler per option, `value()` takes the next argument. */
export type OptionHandlers = Record<string, (value: () => string) => void>;

/** parseOptions runs the handlers in order; false after printing `help` for -h/--help. */
export function parseOptions(argv: string[], handlers: OptionHandlers, help: string): boolean {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') {
      process.stdout.write(help);
      return false;
    }
    const h = handlers[a];
    if (!h) throw new Error(`unknown option ${JSON.stringify(a)}\n\n${help}`);
    h(() => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    });
  }
  return true;
}

export function intArg(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} needs an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}
