// Read everything the plan needs from one host, in one round trip, once per run.
import { addressesFact, type AddressesFact } from './addresses.js';
import { factScript, parseFacts, type Fact } from './fact.js';
import { filesFact, tempsFact, type FilesFact, type TempsFact } from './files.js';
import { osFact, type OsFact } from './os.js';
import { drainedFact, type DrainMark } from '../plan/drain.js';
import { packagesFact, type PackagesFact } from './packages.js';
import { unitsFact, type UnitsFact } from './systemd.js';
import { systemFact } from './system.js';
import { upstreamVersion } from '../render/keepalived-versions.js';
import { quote } from '../shell/quote.js';

export interface HostFacts {
  os: OsFact;
  packages: PackagesFact;
  units: UnitsFact;
  files: FilesFact;
  /** Leftover temp files of managed files (an interrupted upload or rollback), by file. */
  temps?: TempsFact;
  addresses: AddressesFact;
  /** keepalived's upstream version from its installed package (null: not installed). */
  keepalived: string | null;
  /** The version apt would install when keepalived is not installed yet (null: none known). */
  keepalivedCandidate?: string | null;
  /** `unless` command → its exit code (0 means the command task has nothing to do). */
  unless: Record<string, number>;
  /** Command → its standard output (e.g. `nft list ruleset` for the firewall task). */
  output?: Record<string, string>;
  /** The node's drain marker (kadeploy drain), when it is drained. */
  drained?: DrainMark;
  /** `systemctl is-system-running`: running, degraded, starting, stopping… (./system.ts). */
  system?: string;
}

/** What a task kind needs read from the node (src/tasks/<kind>.ts says, the registry sums it up). */
export interface FactNeeds {
  packages?: string[];
  units?: string[];
  files?: string[];
  /** `unless` commands of command tasks: their exit codes. */
  unless?: string[];
  /** Commands whose standard output a task reads. */
  output?: string[];
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

function outputFact(commands: string[]): Fact<Record<string, string>> {
  const mark = '@@kadeploy-output';
  return {
    name: 'output',
    command: commands.map((c, k) => `printf '%s %s\\n' ${quote(mark)} ${k}; ( ${c} ) 2>/dev/null`).join('; ') || 'true',
    parse(out) {
      const result: Record<string, string> = {};
      for (const section of out.split(`${mark} `).slice(1)) {
        const newline = section.indexOf('\n');
        const command = commands[Number(section.slice(0, newline))];
        if (command !== undefined) result[command] = section.slice(newline + 1);
      }
      return result;
    },
  };
}

/** apt's candidate keepalived, asked only while keepalived is not installed (the version to render for). */
const candidateFact: Fact<string | null> = {
  name: 'keepalivedCandidate',
  command: "if command -v apt-cache >/dev/null && ! dpkg-query -W -f='${db:Status-Status}' keepalived 2>/dev/null | grep -qx installed; then LC_ALL=C apt-cache policy keepalived; fi",
  parse: (out) => {
    const v = /^\s*Candidate: (\S+)/m.exec(out)?.[1];
    return v && v !== '(none)' ? upstreamVersion(v) : null;
  },
};

/** The keepalived version a node runs, or will once installed; undefined when unknown. */
export const keepalivedVersionOf = (f: HostFacts): string | undefined => f.keepalived ?? f.keepalivedCandidate ?? undefined;

export function factsFor(needs: FactNeeds[]): Array<Fact<unknown>> {
  const all = (key: keyof FactNeeds) => [...new Set(needs.flatMap((n) => n[key] ?? []))];
  return [osFact, packagesFact(all('packages')), unitsFact(all('units')), filesFact(all('files')), tempsFact(all('files')), addressesFact, unlessFact(all('unless')), outputFact(all('output')), drainedFact, candidateFact, systemFact] as Array<Fact<unknown>>;
}

/** The one command (one round trip) that reads these facts, and how to parse its output. */
export function factsCommand(needs: FactNeeds[]): { command: string; parse(stdout: string): HostFacts } {
  const facts = factsFor(needs);
  return {
    command: `sh -c ${quote(factScript(facts))}`,
    parse(stdout) {
      const parsed = parseFacts(facts, stdout) as unknown as HostFacts;
      // keepalived's version from its package (epoch and revision dropped): no extra process on the node.
      const pkg = parsed.packages?.keepalived;
      parsed.keepalived = pkg ? upstreamVersion(pkg) : null;
      return parsed;
    },
  };
}
