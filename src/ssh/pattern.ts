// OpenSSH host patterns (`*`, `?`, `!negation`), shared by ssh_config `Host` lines and known_hosts.

/** One pattern against one name; case-insensitive like OpenSSH's match_hostname. */
export function matchPattern(name: string, pattern: string): boolean {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i').test(name);
}

/** A pattern list matches when some positive pattern matches and no negated one does. */
export function matchPatternList(name: string, patterns: readonly string[]): boolean {
  let matched = false;
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (matchPattern(name, p.slice(1))) return false;
    } else if (matchPattern(name, p)) {
      matched = true;
    }
  }
  return matched;
}
