import type { Fact } from './fact.js';

export interface OsFact {
  id: string; // debian, ubuntu, rhel, rocky…
  versionId: string;
  family: 'debian' | 'redhat' | 'unknown';
}

export const osFact: Fact<OsFact> = {
  name: 'os',
  command: 'cat /etc/os-release',
  parse(out) {
    const vars = Object.fromEntries(
      out.split('\n').map((l) => l.match(/^([A-Z_]+)=(.*)$/)).filter((m) => m !== null).map((m) => [m[1], m[2]!.replace(/^"|"$/g, '')]),
    );
    const ids = `${vars.ID ?? ''} ${vars.ID_LIKE ?? ''}`;
    const family = /debian|ubuntu/.test(ids) ? 'debian' : /rhel|fedora|centos/.test(ids) ? 'redhat' : 'unknown';
    return { id: vars.ID ?? 'unknown', versionId: vars.VERSION_ID ?? '', family };
  },
};
