// Test support: every domain error the code can raise, found in the source with the
// TypeScript compiler. Each `new StratusError(kind, message, { resource, reason })` and each
// `notFound`, `alreadyExists`, `invalid` call under src/ (tests left out) gives the kinds,
// resources and reasons its arguments can hold, from their types; where an argument is a
// parameter of the enclosing function (`parseEc2Id(text, prefixes, resource)`), the values
// come from that function's callers instead. A re-raise that copies another error's
// resource or reason adds nothing new and is skipped.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import type { ErrorKind, ErrorReason, ErrorResource } from '../../src/errors.js';

export interface RaisedError {
  kind: ErrorKind;
  resource: ErrorResource | undefined;
  reason: ErrorReason | undefined;
  /** Where, as `file:line`. */
  at: string;
}

/** The repository's root: the nearest folder above this file with a tsconfig.json. */
function root(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'tsconfig.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('no tsconfig.json above the test');
    dir = up;
  }
  return dir;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    const test = /\.(test|suite)\.ts$/.test(e.name) || e.name === 'testing.ts';
    return e.name.endsWith('.ts') && !test ? [p] : [];
  });
}

/** The helpers of src/errors.ts that raise: their kind and where resource/reason come from. */
const HELPERS: Record<string, { kind: ErrorKind; resourceArg?: number; optionsArg?: number }> = {
  notFound: { kind: 'not_found', resourceArg: 0 },
  alreadyExists: { kind: 'already_exists', resourceArg: 0 },
  invalid: { kind: 'invalid', optionsArg: 1 },
};

export function raisedErrors(): RaisedError[] {
  const base = root();
  const errorsFile = path.join(base, 'src', 'errors.ts');
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    types: [],
  };
  // Packages' declarations are left empty: the unions that matter are ours, and reading the
  // AWS SDK's and Fastify's types would take most of the time.
  const host = ts.createCompilerHost(options);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, version, ...rest) =>
    fileName.includes('/node_modules/') && !fileName.includes('/node_modules/typescript/lib/')
      ? ts.createSourceFile(fileName, 'export {};', version)
      : read(fileName, version, ...rest);
  const program = ts.createProgram(sourceFiles(path.join(base, 'src')), options, host);
  const checker = program.getTypeChecker();
  const errorsSource = program.getSourceFile(errorsFile);
  if (!errorsSource) throw new Error(`${errorsFile} is not in the program`);

  /** The symbols of StratusError and the helpers, as declared in src/errors.ts. */
  const raisers = new Map<ts.Symbol, string>();
  errorsSource.forEachChild((node) => {
    if ((ts.isClassDeclaration(node) || ts.isFunctionDeclaration(node)) && node.name) {
      const name = node.name.text;
      const symbol = checker.getSymbolAtLocation(node.name);
      if (symbol && (name === 'StratusError' || name in HELPERS)) raisers.set(symbol, name);
    }
  });
  const raiserOf = (callee: ts.Expression): string | undefined => {
    let symbol = checker.getSymbolAtLocation(callee);
    if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
    return symbol ? raisers.get(symbol) : undefined;
  };

  const calls: ts.CallExpression[] = [];
  const raises: (ts.CallExpression | ts.NewExpression)[] = [];
  for (const file of program.getSourceFiles()) {
    if (file.isDeclarationFile || !file.fileName.startsWith(path.join(base, 'src'))) continue;
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node)) calls.push(node);
      if ((ts.isCallExpression(node) || ts.isNewExpression(node)) && file !== errorsSource) {
        if (raiserOf(node.expression)) raises.push(node);
      }
      node.forEachChild(visit);
    };
    visit(file);
  }
  /**
   * The calls of function `fn`: candidates by name first (resolving every call's symbol
   * would type-check the whole program), then confirmed by symbol.
   */
  const callsOf = (fn: ts.SignatureDeclaration): ts.CallExpression[] => {
    const named = fn.name ?? (ts.isVariableDeclaration(fn.parent) ? fn.parent.name : undefined);
    if (!named || !ts.isIdentifier(named)) return [];
    const name = named.text;
    return calls.filter((call) => {
      const callee = call.expression;
      const text = ts.isIdentifier(callee)
        ? callee.text
        : ts.isPropertyAccessExpression(callee)
          ? callee.name.text
          : undefined;
      if (text !== name) return false;
      let symbol = checker.getSymbolAtLocation(callee);
      if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
      return (symbol?.declarations ?? []).some(
        (d) => d === fn || (ts.isVariableDeclaration(d) && d.initializer === fn),
      );
    });
  };

  const literals = (type: ts.Type): string[] | undefined => {
    const parts = type.isUnion() ? type.types : [type];
    const out: string[] = [];
    for (const t of parts) {
      if (t.isStringLiteral()) out.push(t.value);
      else if (!(t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Void))) return undefined;
    }
    return out;
  };

  /**
   * The string values `expr` can hold: through a parameter to its callers' arguments, else
   * from its type. `[]` means none (undefined); `null` means a re-raise to skip.
   */
  const valuesOf = (expr: ts.Expression | undefined, depth = 0): string[] | null => {
    if (!expr) return [];
    // Literals need no type checking, which is what makes this slow.
    if (ts.isStringLiteral(expr)) return [expr.text];
    if (ts.isPropertyAccessExpression(expr)) {
      const owner = checker.getTypeAtLocation(expr.expression).getSymbol()?.getName();
      if (owner === 'StratusError') return null;
    }
    if (ts.isIdentifier(expr) && depth < 4) {
      const symbol = ts.isShorthandPropertyAssignment(expr.parent)
        ? checker.getShorthandAssignmentValueSymbol(expr.parent)
        : checker.getSymbolAtLocation(expr);
      const decl = symbol?.valueDeclaration;
      if (decl && ts.isParameter(decl)) {
        const fn = decl.parent;
        const index = fn.parameters.indexOf(decl);
        const sites = callsOf(fn);
        if (sites.length > 0) {
          const all = new Set<string>();
          for (const site of sites) {
            const arg = site.arguments[index];
            const v = arg ? valuesOf(arg, depth + 1) : [];
            if (v === null) return null;
            for (const x of v) all.add(x);
          }
          return [...all];
        }
      }
    }
    const found = literals(checker.getTypeAtLocation(expr));
    if (!found) throw new Error(`cannot tell the values of '${expr.getText()}' (${where(expr)})`);
    return found;
  };

  /** `resource` or `reason` of an options argument. */
  const optionValues = (options: ts.Expression | undefined, name: string): string[] | null => {
    if (!options) return [];
    if (ts.isObjectLiteralExpression(options)) {
      for (const p of options.properties) {
        if (p.name && ts.isIdentifier(p.name) && p.name.text === name) {
          if (ts.isPropertyAssignment(p)) return valuesOf(p.initializer);
          if (ts.isShorthandPropertyAssignment(p)) return valuesOf(p.name);
        }
      }
      return [];
    }
    const prop = checker.getTypeAtLocation(options).getProperty(name);
    if (!prop) return [];
    const found = literals(checker.getTypeOfSymbolAtLocation(prop, options));
    if (!found) throw new Error(`cannot tell the ${name} of '${options.getText()}'`);
    return found;
  };

  const where = (node: ts.Node) => {
    const file = node.getSourceFile();
    const line = file.getLineAndCharacterOfPosition(node.getStart()).line + 1;
    return `${path.relative(base, file.fileName)}:${line}`;
  };

  const out: RaisedError[] = [];
  for (const node of raises) {
    const name = raiserOf(node.expression) as string;
    const args = node.arguments ?? [];
    let kinds: string[] | null;
    let resources: string[] | null;
    let reasons: string[] | null;
    if (name === 'StratusError') {
      kinds = valuesOf(args[0]);
      resources = optionValues(args[2], 'resource');
      reasons = optionValues(args[2], 'reason');
    } else {
      const helper = HELPERS[name] as (typeof HELPERS)[string];
      kinds = [helper.kind];
      resources =
        helper.resourceArg !== undefined
          ? valuesOf(args[helper.resourceArg])
          : optionValues(args[helper.optionsArg ?? -1], 'resource');
      reasons = optionValues(
        helper.optionsArg === undefined ? undefined : args[helper.optionsArg],
        'reason',
      );
    }
    if (kinds === null || resources === null || reasons === null) continue;
    const orNone = (list: string[]) => (list.length === 0 ? [undefined] : list);
    for (const kind of kinds) {
      for (const resource of orNone(resources)) {
        for (const reason of orNone(reasons)) {
          out.push({
            kind: kind as ErrorKind,
            resource: resource as ErrorResource | undefined,
            reason: reason as ErrorReason | undefined,
            at: where(node),
          });
        }
      }
    }
  }
  return out;
}
