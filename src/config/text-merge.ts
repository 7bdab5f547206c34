/**
 * Keeps the operator's layout when an edited Document is written back. The yaml Document API keeps
 * comments, but re-rendering a whole file also re-aligns every inline comment and moves comments
 * that followed a `key:` onto their own line. So the new text is not written as rendered: the
 * change between the rendering before and after the edit is applied to the original text (a
 * three-way merge of lines), and lines the edit did not touch keep their bytes.
 */

/**
 * A line as the renderer would lay it out, for matching the original against the rendering:
 * comments and runs of spaces do not count (the renderer re-aligns inline comments and moves a
 * comment after `key:` to the next line), indentation does.
 */
function layoutKey(line: string): string {
  const text = line.trim();
  if (text.startsWith('#')) return text;
  const comment = text.search(/\s#/);
  const content = (comment < 0 ? text : text.slice(0, comment)).replace(/\s+/g, ' ').trimEnd();
  return `${line.length - line.trimStart().length}:${content}`;
}

/** Index pairs [i, j] with a[i] === b[j] forming a longest common subsequence, in order. */
function commonLines(a: readonly string[], b: readonly string[]): Array<[number, number]> {
  // Trim the common ends first: edits are local, so the table below stays small.
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const n = endA - start;
  const m = endB - start;
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < start; i++) pairs.push([i, i]);
  if (n > 0 && m > 0) {
    // lengths[i][j] = LCS length of a[start+i..endA) and b[start+j..endB).
    const width = m + 1;
    const lengths = new Uint32Array((n + 1) * width);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lengths[i * width + j] =
          a[start + i] === b[start + j]
            ? lengths[(i + 1) * width + j + 1]! + 1
            : Math.max(lengths[(i + 1) * width + j]!, lengths[i * width + j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (a[start + i] === b[start + j]) {
        pairs.push([start + i, start + j]);
        i++;
        j++;
      } else if (lengths[(i + 1) * width + j]! >= lengths[i * width + j + 1]!) i++;
      else j++;
    }
  }
  for (let k = 0; endA + k < a.length; k++) pairs.push([endA + k, endB + k]);
  return pairs;
}

/** `debug: true # note` laid out as the original `debug: false      # note`: the comment keeps its column. */
function keepCommentColumn(ours: string, theirs: string): string {
  const o = /^(.*?\S)(\s+)(#.*)$/.exec(ours);
  const t = /^(.*?\S)(\s+)(#.*)$/.exec(theirs);
  if (!o || !t || o[3] !== t[3]) return theirs;
  const column = o[1]!.length + o[2]!.length;
  return `${t[1]}${' '.repeat(Math.max(1, column - t[1]!.length))}${t[3]}`;
}

/** Above this many cells the merge is skipped (the rendered text is written as is). */
const MAX_CELLS = 4_000_000;

/**
 * Applies the edit (`base` → `theirs`, both rendered by the same renderer) to `ours`, the original
 * file holding the same data as `base` in the operator's layout. Each run of lines the edit
 * replaced is located in `ours` through the lines it shares with `base`, and only that run is
 * replaced; every other line of `ours` is kept byte for byte. Returns undefined when the texts
 * are too large to compare cheaply or the runs cannot be placed in order.
 */
export function mergeLines(ours: string, base: string, theirs: string): string | undefined {
  const crlf = ours.includes('\r\n');
  const o = (crlf ? ours.replace(/\r\n/g, '\n') : ours).split('\n');
  const b = base.split('\n');
  const t = theirs.split('\n');
  if (b.length * Math.max(o.length, t.length) > MAX_CELLS) return undefined;
  const inOurs = new Map(commonLines(b.map(layoutKey), o.map(layoutKey)));
  const lastBefore = (k: number) => {
    for (let i = k - 1; i >= 0; i--) if (inOurs.has(i)) return inOurs.get(i)!;
    return -1;
  };
  const firstFrom = (k: number) => {
    for (let i = k; i < b.length; i++) if (inOurs.has(i)) return inOurs.get(i)!;
    return o.length;
  };
  const out: string[] = [];
  let kept = 0;
  let bNext = 0;
  let tNext = 0;
  for (const [bi, ti] of [...commonLines(b, t), [b.length, t.length] as [number, number]]) {
    if (bi > bNext || ti > tNext) {
      // Lines bNext..bi of base became tNext..ti: find what they are in ours.
      const mapped: number[] = [];
      for (let k = bNext; k < bi; k++) if (inOurs.has(k)) mapped.push(inOurs.get(k)!);
      let start: number;
      let end: number;
      if (mapped.length > 0) {
        start = mapped[0]!;
        end = mapped[mapped.length - 1]! + 1;
      } else {
        // Nothing of it is recognisable in ours: an insertion after the previous shared line,
        // or a replacement of whatever ours has between the neighbouring shared lines.
        start = lastBefore(bNext) + 1;
        end = bi > bNext ? firstFrom(bi) : start;
      }
      if (start < kept || end < start) return undefined;
      const replacement = t.slice(tNext, ti);
      // Line for line (a value changed in place): keep each line's comment where it was.
      if (end - start === replacement.length) replacement.forEach((line, i) => (replacement[i] = keepCommentColumn(o[start + i]!, line)));
      out.push(...o.slice(kept, start), ...replacement);
      kept = end;
    }
    bNext = bi + 1;
    tNext = ti + 1;
  }
  out.push(...o.slice(kept));
  const merged = out.join('\n');
  return crlf ? merged.replace(/\n/g, '\r\n') : merged;
}
