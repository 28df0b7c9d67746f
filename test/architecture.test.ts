// The shape docs/architecture.md describes, checked on the source: the import graph between
// top-level folders of src/ has no cycle, and dependencies point inward (edges -> services ->
// engines -> base), never back out.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

/** The layers, outermost first; a module may import only from its own layer or inner ones. */
const LAYERS: readonly (readonly string[])[] = [
  ['main'],
  ['cli', 'smoke'],
  // A cloud of several hosts on one machine, run as processes (stratus lab).
  ['lab'],
  ['api'],
  // Read by main and the edges, which hand services plain options.
  ['config'],
  ['compute', 'scheduler', 'network', 'identity', 'image', 'keypairs', 'quota', 'tags', 'volume'],
  ['virt', 'db', 'bus', 'service', 'metrics'],
  ['ids', 'context', 'errors', 'log', 'version', 'text-rules', 'ports'],
];

type Graph = Map<string, Map<string, string[]>>;

/** Top-level module of a file under src/: its first folder, or the file's own name. */
function moduleOf(file: string): string {
  const [first, second] = path.relative(SRC, file).split(path.sep);
  return second === undefined ? (first as string).replace(/\.ts$/, '') : (first as string);
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.ts$/.test(e.name) && !/\.(test|suite)\.ts$/.test(e.name) ? [p] : [];
  });
}

/** Module -> modules it imports (type imports too: they are dependencies of the design). */
function importGraph(): Graph {
  const graph: Graph = new Map();
  for (const file of sourceFiles(SRC)) {
    const from = moduleOf(file);
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+'(\.[^']+)'/gms)) {
      const target = path.resolve(path.dirname(file), (m[1] as string).replace(/\.js$/, '.ts'));
      const to = moduleOf(target);
      if (to === from) continue;
      const edges = graph.get(from) ?? new Map<string, string[]>();
      edges.set(to, [...(edges.get(to) ?? []), path.relative(SRC, file)]);
      graph.set(from, edges);
    }
  }
  return graph;
}

/** One cycle of the graph, as a path a -> b -> ... -> a, or undefined. */
function findCycle(graph: Graph): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node)?.keys() ?? []) {
      if (state.get(next) === 'open') return [...stack.slice(stack.indexOf(next)), next];
      if (state.get(next) === undefined) {
        const cycle = visit(next);
        if (cycle) return cycle;
      }
    }
    stack.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of graph.keys()) {
    if (state.get(node) === undefined) {
      const cycle = visit(node);
      if (cycle) return cycle;
    }
  }
  return undefined;
}

describe('architecture', () => {
  const graph = importGraph();

  it('sees the whole source tree', () => {
    const modules = new Set(sourceFiles(SRC).map(moduleOf));
    for (const m of ['main', 'api', 'compute', 'network', 'db', 'bus', 'virt'])
      assert.ok(modules.has(m), `module ${m} not found under ${SRC}`);
    const unplaced = [...modules].filter((m) => !LAYERS.some((l) => l.includes(m)));
    assert.deepEqual(unplaced, [], 'every top-level module has a layer in this test');
    assert.ok(graph.get('main')?.has('api'), 'the import scan finds main -> api');
    assert.ok(graph.get('api')?.has('errors'), 'the import scan finds api -> errors');
  });

  it('has no import cycle between top-level folders', () => {
    const cycle = findCycle(graph);
    const where = cycle?.slice(1).map((to, i) => {
      const from = cycle[i] as string;
      return `${from} -> ${to} (${(graph.get(from)?.get(to) ?? []).join(', ')})`;
    });
    assert.equal(cycle, undefined, `import cycle:\n  ${where?.join('\n  ')}`);
  });

  it('imports only inward, from the same layer or an inner one', () => {
    const layer = (m: string) => LAYERS.findIndex((l) => l.includes(m));
    const outward: string[] = [];
    for (const [from, edges] of graph) {
      for (const [to, files] of edges) {
        if (layer(to) < layer(from)) outward.push(`${from} -> ${to} (${files.join(', ')})`);
      }
    }
    assert.deepEqual(outward, []);
  });
});
