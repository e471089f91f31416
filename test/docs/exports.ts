/**
 * The package's public names, read with the TypeScript compiler API: every
 * name each entry point of package.json "exports" makes importable (following
 * `export … from` and `export *`), and whether its declaration has a doc comment.
 */
import { readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import ts from "typescript";

export const root = new URL("../..", import.meta.url).pathname;

/** The source file of each code entry point in package.json "exports" (./dist/src/index.js → src/index.ts). */
export function entryPoints(): string[] {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports: Record<string, string | Record<string, string>> };
  const out: string[] = [];
  for (const target of Object.values(pkg.exports)) {
    const file = typeof target === "string" ? target : target.default ?? target.import;
    if (!file || !/\.js$/.test(file)) continue; // ./package.json
    out.push(file.replace(/^\.\/dist\//, "").replace(/\.js$/, ".ts"));
  }
  return out;
}

export interface PublicName {
  entry: string;
  name: string;
  /** Where it is declared (repo-relative path:line). */
  where: string;
  documented: boolean;
}

/** Every exported name of every entry point, with where it is declared and whether it has a doc comment. */
export function publicNames(entries = entryPoints()): PublicName[] {
  const config = ts.readConfigFile(join(root, "tsconfig.json"), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  const files = entries.map((e) => resolve(root, e));
  const program = ts.createProgram(files, { ...parsed.options, noEmit: true });
  const checker = program.getTypeChecker();
  const out: PublicName[] = [];
  for (const [i, file] of files.entries()) {
    const sf = program.getSourceFile(file);
    const mod = sf && checker.getSymbolAtLocation(sf);
    if (!mod) throw new Error(`${entries[i]}: not a module`);
    for (const exp of checker.getExportsOfModule(mod)) {
      const sym = exp.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exp) : exp;
      const decls = sym.declarations ?? [];
      const first = decls[0];
      const where = first ? `${relative(root, first.getSourceFile().fileName)}:${first.getSourceFile().getLineAndCharacterOfPosition(first.getStart()).line + 1}` : "?";
      const documented = sym.getDocumentationComment(checker).some((p) => p.text.trim().length > 0);
      out.push({ entry: entries[i], name: exp.name, where, documented });
    }
  }
  return out;
}
