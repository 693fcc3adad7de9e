import { sh } from '../shell/quote.js';
import type { Fact } from './fact.js';

/** Installed packages among `names`: name → version. Absent names are not installed. */
export type PackagesFact = Record<string, string>;

export function packagesFact(names: string[]): Fact<PackagesFact> {
  const dpkg = sh('dpkg-query', '-W', '-f=${Package}\\t${Version}\\t${db:Status-Status}\\n', ...names);
  const rpm = sh('rpm', '-q', '--qf', '%{NAME}\\t%{VERSION}-%{RELEASE}\\tinstalled\\n', ...names);
  return {
    name: 'packages',
    // With no names dpkg-query would list every package: ask nothing instead.
    command: names.length ? `if command -v dpkg-query >/dev/null; then ${dpkg}; else ${rpm}; fi` : '',
    parse(out) {
      const installed: PackagesFact = {};
      for (const line of out.split('\n')) {
        const [name, version, status] = line.split('\t');
        if (name && version && status === 'installed') installed[name] = version;
      }
      return installed;
    },
  };
}
