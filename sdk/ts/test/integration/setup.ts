// Builds the node's binary once for every integration test file. Without a
// Go toolchain the integration tests skip, with the reason, except under
// CI=true, where a missing dependency is a failure. A node that does not
// build fails them everywhere.

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** The built node binary, or "" when it could not be built. */
    switchboardBinary: string;
    /** Why there is no binary. */
    switchboardSkip: string;
  }
}

export default function setup(project: TestProject): () => void {
  // A node built beforehand (SDK_NODE_BINARY, e.g. from make) is used as is.
  const prebuilt = process.env.SDK_NODE_BINARY;
  if (prebuilt) {
    project.provide("switchboardBinary", prebuilt);
    project.provide("switchboardSkip", "");
    return () => {};
  }
  const sdk = fileURLToPath(new URL("../..", import.meta.url));
  const dir: string = mkdtempSync(join(tmpdir(), "switchboard-sdk-"));
  const bin = join(dir, "switchboard");
  let skip = "";
  try {
    execFileSync("go", ["build", "-o", bin, "../../cmd/switchboard"], { cwd: sdk, stdio: ["ignore", "inherit", "inherit"], timeout: 300_000 });
  } catch (err) {
    // Only a missing Go toolchain is a missing dependency; a node that does
    // not compile is a failure wherever the tests run.
    const missing = (err as { code?: string }).code === "ENOENT";
    const why = `cannot build the node (go build ../../cmd/switchboard): ${String(err)}`;
    if (!missing || process.env.CI === "true") throw new Error(why);
    skip = why;
  }
  project.provide("switchboardBinary", skip ? "" : bin);
  project.provide("switchboardSkip", skip);
  return () => rmSync(dir, { recursive: true, force: true });
}
