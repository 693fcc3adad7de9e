// YAML parsing that keeps positions, so every problem can name its file, line and column.
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';

export type FieldPath = Array<string | number>;

export interface Position {
  line: number;
  column: number;
}

export class YamlSource {
  private constructor(
    readonly file: string,
    readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  static parse(file: string, text: string): YamlSource {
    const lines = new LineCounter();
    // The library's own unique-keys check compares each key with every earlier one (quadratic: a
    // 470 KB inventory took 22 s); duplicateKeys does it in one pass.
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
    return new YamlSource(file, doc, lines);
  }

  /** Syntax errors with positions (the YAML library's messages, first line only), and duplicate keys. */
  syntaxErrors(): Array<Position & { message: string }> {
    const errors = this.doc.errors.map((e) => ({ offset: e.pos[0], message: e.message.split('\n')[0] ?? e.message }));
    return [...errors, ...duplicateKeys(this.doc)].sort((a, b) => a.offset - b.offset).map((e) => ({ ...this.at(e.offset), message: e.message }));
  }

  private at(offset: number): Position {
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }

  /**
   * Position of the value at `path`, or of the deepest ancestor that exists (a missing field is
   * reported where its parent is). With `key`, the position of that key inside the map at `path`.
   */
  position(path: FieldPath, key?: string): Position | undefined {
    let node: unknown = this.doc.contents;
    let best: Node | undefined = node as Node;
    for (const segment of path) {
      const next = child(node, segment);
      if (next === undefined) break;
      node = next;
      best = next as Node;
    }
    if (key !== undefined && isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
      if (pair && isScalar(pair.key) && pair.key.range) return this.at(pair.key.range[0]);
    }
    return best?.range ? this.at(best.range[0]) : undefined;
  }
}

/** Keys repeated within one mapping, each at its second occurrence; linear in the document's size. */
function duplicateKeys(doc: Document): Array<{ offset: number; message: string }> {
  const found: Array<{ offset: number; message: string }> = [];
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        const key = pair.key.value;
        if (seen.has(key)) found.push({ offset: pair.key.range?.[0] ?? 0, message: `Map keys must be unique: "${String(key)}" appears twice` });
        seen.add(key);
      }
    },
  });
  return found;
}

function child(node: unknown, segment: string | number): unknown {
  if (isMap(node)) {
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment));
    return pair?.value ?? undefined;
  }
  if (isSeq(node) && typeof segment === 'number') return node.items[segment];
  return undefined;
}

/** `nodes[1].priority` style rendering of a path. */
export function formatPath(path: FieldPath): string {
  return path.reduce<string>(
    (acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg),
    '',
  );
}
