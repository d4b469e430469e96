// A subscription made before connect() starts from the channel's position
// when it was made, not from wherever the channel is once a connection
// opens: README §5's snippet, run as written, shows its own `hello`.

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { TransportName } from "../../src/options.js";
import { channel, closeClients, collect, newClient, next, offsets, waitFor } from "../helpers/client.js";
import { type Node, binary, skipReason, startNode } from "../helpers/node.js";

describe.skipIf(!binary)(`a subscription made before connect()${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  let node: Node;

  beforeAll(async () => {
    node = await startNode();
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    await node?.stop();
  });

  for (const transport of ["websocket", "sse", "longpoll", "poll"] as TransportName[]) {
    it(`sees the publish that follows it, as README §5 orders them (${transport})`, async () => {
      const ch = channel("chat", `readme-${transport}`);
      await node.publish(ch, { text: "before" }); // not replayed: it came before the subscription
      const sb = newClient(node.url, { transports: [transport] });
      const sub = sb.subscribe(ch);
      const got = collect(sub);
      const errors: unknown[] = [];
      sub.on("gap", (g) => errors.push(g));
      sub.on("error", (e) => errors.push(e));
      sb.connect();
      const r = await sb.publish(ch, { name: "console", text: "hello" });
      expect(r.offset).toBe(2);
      await waitFor(() => got.length >= 1, () => `hello over ${transport}`);
      await node.publish(ch, { text: "after" });
      await waitFor(() => got.length >= 2, () => `the live one over ${transport}, got ${offsets(got)}`);
      expect(got.map((m) => (m.data as { text: string }).text)).toEqual(["hello", "after"]);
      expect(offsets(got)).toEqual([2, 3]);
      expect(errors).toEqual([]);
    });
  }

  it("made while connected over a WebSocket, starts live at once", async () => {
    const ch = channel("chat", "live");
    const sb = newClient(node.url, { transports: ["websocket"] });
    sb.connect();
    await sb.ready();
    await node.publish(ch, "old");
    const sub = sb.subscribe(ch);
    const got = collect(sub);
    const started = await next(sub, "subscribed");
    expect(started.offset).toBe(1);
    await sb.publish(ch, "new");
    await waitFor(() => got.length === 1, () => "the publish after subscribe");
    expect(offsets(got)).toEqual([2]);
  });
});
