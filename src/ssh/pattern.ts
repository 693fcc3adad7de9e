// OpenSSH host patterns (`*`, `?`, `!negation`), shared by ssh_config `Host`/`Match` lines and known_hosts.

/** One pattern against one name; case-insensitive by default, like OpenSSH's match_hostname. */
export function matchPattern(name: string, pattern: string, ignoreCase = true): boolean {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, ignoreCase ? 'is' : 's').test(name);
}

/** A pattern list matches when some positive pattern matches and no negated one does. */
export function matchPatternList(name: string, patterns: readonly string[], ignoreCase = true): boolean {
  let matched = false;
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (matchPattern(name, p.slice(1), ignoreCase)) return false;
    } else if (matchPattern(name, p, ignoreCase)) {
      matched = true;
    }
  }
  return matched;
}
