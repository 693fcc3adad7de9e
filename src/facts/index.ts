// Read everything the plan needs from one host, in one round trip, once per run.
import type { Desired } from '../plan/types.js';
import { addressesFact, type AddressesFact } from './addresses.js';
import { factScript, parseFacts, type Fact } from './fact.js';
import { filesFact, type FilesFact } from './files.js';
import { osFact, type OsFact } from './os.js';
import { packagesFact, type PackagesFact } from './packages.js';
import { unitsFact, type UnitsFact } from './systemd.js';
import { quote } from '../shell/quote.js';

export interface HostFacts {
  os: OsFact;
  packages: PackagesFact;
  units: UnitsFact;
  files: FilesFact;
  addresses: AddressesFact;
  keepalived: string | null;
  /** `unless` command → its exit code (0 means the command task has nothing to do). */
  unless: Record<string, number>;
}

/** The part of an SSH connection facts need (keeps facts testable with a fake). */
export interface Runner {
  exec(command: string, opts?: { check?: boolean; timeoutMs?: number; stdin?: string }): Promise<{ stdout: string; stderr: string; code: number }>;
}

function unlessFact(commands: string[]): Fact<Record<string, number>> {
  return {
    name: 'unless',
    command: commands.map((c, k) => `( ${c} ) >/dev/null 2>&1; printf '%s\\t%s\\n' ${k} "$?"`).join('; ') || 'true',
    parse(out) {
      const result: Record<string, number> = {};
      for (const line of out.split('\n')) {
        const [k, rc] = line.split('\t');
        const command = commands[Number(k)];
        if (command !== undefined && rc !== undefined) result[command] = Number(rc);
      }
      return result;
    },
  };
}

export function factsFor(desired: Desired[]): Array<Fact<unknown>> {
  const pick = <K extends Desired['kind']>(kind: K) => desired.filter((d): d is Extract<Desired, { kind: K }> => d.kind === kind);
  return [
    osFact,
    packagesFact([...new Set(pick('package').flatMap((d) => d.names))]),
    unitsFact([...new Set(pick('service').map((d) => d.name))]),
    filesFact(pick('file').map((d) => d.path)),
    addressesFact,
    unlessFact(pick('command').flatMap((d) => (d.unless ? [d.unless] : []))),
  ] as Array<Fact<unknown>>;
}

export async function gatherFacts(host: Runner, desired: Desired[]): Promise<HostFacts> {
  const facts = factsFor(desired);
  const { stdout } = await host.exec(`sh -c ${quote(factScript(facts))}`, { check: false });
  const parsed = parseFacts(facts, stdout) as unknown as HostFacts;
  // keepalived's version from its package (epoch and revision dropped): no extra process on the node.
  const pkg = parsed.packages?.keepalived;
  parsed.keepalived = pkg ? pkg.replace(/^\d+:/, '').replace(/-[^-]*$/, '') : null;
  return parsed;
}
