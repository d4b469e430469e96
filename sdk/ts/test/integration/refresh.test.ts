// A token renewed over a live WebSocket that grants fewer channels than the
// one before: the node ends the subscription the new token no longer
// allows, and the SDK reports it, against a real node.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { closeClients, collect, newClient, next, offsets, waitFor } from "../helpers/client.js";
import { type Node, binary, mintToken, skipReason, startNode } from "../helpers/node.js";

describe.skipIf(!binary)(`token refresh against a node${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  let node: Node;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "sb-refresh-"));
    const config = join(dir, "switchboard.yaml");
    // "private" channels need the token's channels claim.
    writeFileSync(config, "namespaces:\n  - name: private\n    subscribe: claim\n");
    node = await startNode(["--config", config]);
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    await node?.stop();
  });

  it("ends a subscription the renewed token no longer grants, and keeps the others", async () => {
    let minted = 0;
    const c = newClient(node.url, {
      transports: ["websocket"],
      // The first token grants both channels for about six seconds (the SDK
      // renews it a fifth of its life early, over the same WebSocket); the
      // next grants only private:kept.
      getToken: () =>
        ++minted === 1
          ? mintToken("ivy", 6_000, ["private:kept", "private:dropped"])
          : mintToken("ivy", 3_600_000, ["private:kept"]),
    });
    const drops: number[] = [];
    c.on("disconnected", (e) => drops.push(e.code));
    const kept = c.subscribe("private:kept");
    const dropped = c.subscribe("private:dropped");
    const got = collect(kept);
    const started = Promise.all([next(kept, "subscribed"), next(dropped, "subscribed")]);
    c.connect();
    await started;
    const ended = next(dropped, "unsubscribed");
    await waitFor(() => minted >= 2, () => "a second token", 10_000);
    const ev = await ended;
    expect(ev.code).toBe(103);
    expect(ev.reason).toContain("the token does not grant this channel");
    expect(dropped.state).toBe("unsubscribed");
    await node.publish("private:kept", 1);
    await waitFor(() => got.length === 1, () => `a publication of private:kept, got ${offsets(got)}`);
    expect(kept.state).toBe("subscribed");
    expect(drops).toEqual([]);
  });
});
