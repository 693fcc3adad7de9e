// A fact is a shell command plus a parser (as in pyinfra). All facts of a host are read in ONE
// round trip: their commands are joined into one script whose output is split back per fact.
import { quote } from '../shell/quote.js';

export interface Fact<T> {
  name: string;
  /** POSIX sh; must not fail the script (its exit status is recorded, not checked). */
  command: string;
  parse(output: string, exitCode: number): T;
}

const MARK = '@@kadeploy-fact';

export function factScript(facts: Array<Fact<unknown>>): string {
  return facts
    // The exit status is recorded, not checked. A fact with nothing to ask has an empty command.
    .map((f) => `printf '%s\\n' ${quote(`${MARK} ${f.name}`)}; ( ${f.command || 'true'} ) 2>/dev/null; printf '\\n${MARK}-rc %s\\n' "$?"`)
    .join('\n');
}

/** Split the combined output back into each fact's parsed value. */
export function parseFacts(facts: Array<Fact<unknown>>, output: string): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  const sections = output.split(`${MARK} `).slice(1);
  for (const section of sections) {
    const newline = section.indexOf('\n');
    const name = section.slice(0, newline);
    const body = section.slice(newline + 1);
    const rcAt = body.lastIndexOf(`\n${MARK}-rc `);
    const text = body.slice(0, rcAt);
    const rc = Number(body.slice(rcAt + MARK.length + 5).trim());
    const fact = facts.find((f) => f.name === name);
    if (fact) result[name] = fact.parse(text, rc);
  }
  return result;
}
