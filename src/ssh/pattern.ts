// OpenSSH host patterns (`*`, `?`, `!negation`), shared by ssh_config `Host`/`Match` lines and known_hosts.

const compiled = new Map<string, RegExp>();

/** One pattern against one name; case-insensitive by default, like OpenSSH's match_hostname. */
export function matchPattern(name: string, pattern: string, ignoreCase = true): boolean {
  // Most patterns are plain names (every known_hosts line is checked for every connection): compare
  // them without building a RegExp. Non-ASCII names keep the RegExp's case folding.
  if (!/[*?]/.test(pattern) && (!ignoreCase || (isAscii(name) && isAscii(pattern)))) {
    return ignoreCase ? name.toLowerCase() === pattern.toLowerCase() : name === pattern;
  }
  const flags = ignoreCase ? 'is' : 's';
  let re = compiled.get(flags + pattern);
  if (!re) {
    const body = pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    re = new RegExp(`^${body}$`, flags);
    compiled.set(flags + pattern, re);
  }
  return re.test(name);
}

const isAscii = (s: string): boolean => /^[\x00-\x7f]*$/.test(s);

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
