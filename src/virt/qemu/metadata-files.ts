// The metadata a VM on user-mode networking can fetch: written as a tree of files in the
// instance dir, and served per guest connection by a small POSIX shell responder that QEMU
// runs (guestfwd cmd:), so a request costs a shell start, not a Node.js start.
import fs from 'node:fs';
import path from 'node:path';

/** Request paths must be plain: letters, digits, '.', '_', '-' and '/' — no '..'. */
// (One way to match each path: a nested quantifier would backtrack exponentially on a miss.)
const SAFE_PATH = /^\/(?:[A-Za-z0-9_.-]+\/)*[A-Za-z0-9_.-]*$/;

export function isSafeMetadataPath(p: string): boolean {
  return SAFE_PATH.test(p) && !p.split('/').some((part) => part === '..' || part === '.');
}

/** Writes `files` (request path -> body) under `root`, replacing what was there. */
export function writeMetadataTree(root: string, files: Readonly<Record<string, string>>): void {
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  for (const [p, body] of Object.entries(files)) {
    if (!isSafeMetadataPath(p) || p.endsWith('/')) {
      throw new Error(`The metadata path '${p}' is not a plain file path.`);
    }
    const file = path.join(root, p);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, body);
  }
}

/**
 * The responder: reads one HTTP request from stdin and answers on stdout with the file under
 * the tree named by the request path, a listing for a directory, or 404. Argument: the root.
 */
export const RESPONDER_SCRIPT = `#!/bin/sh
# Stratus metadata responder for QEMU user-mode networking: one HTTP request on stdin, the
# answer on stdout. $1 is the root of the metadata tree.
root=$1
cr=$(printf '\\r')
read -r method target rest || exit 0
while IFS= read -r line; do
  line=\${line%"$cr"}
  [ -z "$line" ] && break
done
reply() {
  printf 'HTTP/1.0 %s\\r\\nContent-Type: text/plain\\r\\nContent-Length: %s\\r\\nConnection: close\\r\\n\\r\\n' "$1" "$2"
}
target=\${target%%\\?*}
case $target in
  *..* | *[!A-Za-z0-9_./-]* | '') reply '400 Bad Request' 0; exit 0 ;;
esac
[ "$method" = GET ] || { reply '405 Method Not Allowed' 0; exit 0; }
file=$root$target
if [ -f "$file" ]; then
  reply '200 OK' "$(wc -c <"$file" | tr -d ' ')"
  cat "$file"
elif [ -d "$file" ]; then
  list=$(cd "$file" && for e in *; do [ -e "$e" ] || continue; [ -d "$e" ] && echo "$e/" || echo "$e"; done)
  reply '200 OK' "$(printf '%s' "$list" | wc -c | tr -d ' ')"
  printf '%s' "$list"
else
  reply '404 Not Found' 0
fi
`;
