/**
 * `*` wildcards for excluded-models: `*` matches any run of characters, including `/` and a
 * leading `.` (unlike glob libraries: `*-k2` must match `moonshotai/kimi-k2`). Case-insensitive.
 */

const escapeRegExp = (s: string) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');

/** Compiles patterns once into a predicate. */
export function compileWildcards(patterns: readonly string[]): (name: string) => boolean {
  const cleaned = patterns.map((p) => p.trim()).filter((p) => p !== '');
  if (cleaned.length === 0) return () => false;
  const source = cleaned.map((p) => escapeRegExp(p).replace(/\*/g, '.*')).join('|');
  const re = new RegExp(`^(?:${source})$`, 'is');
  return (name) => re.test(name);
}
