import { describe, expect, it } from "vitest";
import { ErrorCode, SwitchboardError, noAnswer } from "../../src/errors.js";
import { resolveOptions } from "../../src/options.js";
import type { Command, ServerFrame } from "../../src/protocol.js";
import { type PublishDeps, publish } from "../../src/publish.js";
import type { Connection } from "../../src/transports/transport.js";

type Step = { status: number; body: unknown } | "network";

/** A fetch that answers from a script and records every request. */
function scriptedFetch(steps: Step[]) {
  const calls: { url: string; body: Record<string, unknown>; auth: string | undefined }[] = [];
  const f = async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const headers = (init?.headers ?? {}) as Record<string, string>;
    calls.push({ url: String(url), body: JSON.parse(String(init?.body)) as Record<string, unknown>, auth: headers.Authorization });
    const step = steps.length > 1 ? steps.shift()! : steps[0]!;
    if (step === "network") throw new TypeError("fetch failed");
    return new Response(JSON.stringify(step.body), { status: step.status, headers: { "Content-Type": "application/json" } });
  };
  return { f: f as typeof fetch, calls };
}

function deps(f: typeof fetch, over: Partial<PublishDeps> = {}): PublishDeps & { token: () => string | undefined } {
  let token: string | undefined = "old";
  return {
    options: resolveOptions("http://node.test", { storage: null, fetch: f, minBackoff: 1, maxBackoff: 5, publishTimeout: 2_000 }),
    connection: () => undefined,
    token: () => token,
    refreshToken: async () => {
      token = "fresh";
    },
    ...over,
  };
}

describe("publish", () => {
  it("sends again with the same key when an answer is lost, and lands once", async () => {
    const { f, calls } = scriptedFetch(["network", { status: 502, body: "bad gateway" }, { status: 200, body: { epoch: "x1", offset: 7, duplicate: true } }]);
    const r = await publish(deps(f), "chat:lobby", { text: "hi" });
    expect(r).toMatchObject({ epoch: "x1", offset: 7, duplicate: true });
    expect(calls).toHaveLength(3);
    expect(new Set(calls.map((c) => c.body.key)).size).toBe(1);
    expect(calls[0]!.body).toEqual({ channel: "chat:lobby", data: { text: "hi" }, key: r.key });
    expect(calls[0]!.url).toBe("http://node.test/connection/publish");
    expect(calls[0]!.auth).toBe("Bearer old");
  });

  it("uses the key it is given", async () => {
    const { f, calls } = scriptedFetch([{ status: 200, body: { epoch: "x1", offset: 1 } }]);
    const r = await publish(deps(f), "chat:lobby", 1, { key: "mine" });
    expect(r.key).toBe("mine");
    expect(calls[0]!.body.key).toBe("mine");
  });

  it("draws a new key for every publish", async () => {
    const { f, calls } = scriptedFetch([{ status: 200, body: { epoch: "x1", offset: 1 } }]);
    await publish(deps(f), "chat:lobby", 1);
    await publish(deps(f), "chat:lobby", 1);
    expect(calls[0]!.body.key).not.toBe(calls[1]!.body.key);
  });

  it("does not retry a refusal", async () => {
    const { f, calls } = scriptedFetch([{ status: 403, body: { error: { code: 103, message: "permission denied" } } }]);
    await expect(publish(deps(f), "dashboard:sales", 1)).rejects.toMatchObject({ code: 103, status: 403 });
    expect(calls).toHaveLength(1);
  });

  it("renews an expired token once and sends again", async () => {
    const { f, calls } = scriptedFetch([
      { status: 401, body: { error: { code: 109, message: "token expired" } } },
      { status: 200, body: { epoch: "x1", offset: 2 } },
    ]);
    await publish(deps(f), "chat:lobby", 1);
    expect(calls.map((c) => c.auth)).toEqual(["Bearer old", "Bearer fresh"]);
  });

  it("gives up when its time is up", async () => {
    const { f, calls } = scriptedFetch(["network"]);
    const d = deps(f);
    d.options.publishTimeout = 100;
    await expect(publish(d, "chat:lobby", 1)).rejects.toMatchObject({ code: ErrorCode.NoAnswer });
    expect(calls.length).toBeGreaterThan(1);
  });

  it("stops when aborted", async () => {
    const { f } = scriptedFetch(["network"]);
    const ctl = new AbortController();
    const p = publish(deps(f), "chat:lobby", 1, { signal: ctl.signal });
    setTimeout(() => ctl.abort(), 20);
    await expect(p).rejects.toBeInstanceOf(SwitchboardError);
  });

  it("goes over the WebSocket when there is one, retrying with the same key", async () => {
    const sent: Command[] = [];
    let n = 0;
    const conn = {
      transport: "websocket",
      request: async (cmd: Command): Promise<ServerFrame> => {
        sent.push(cmd);
        if (n++ === 0) throw noAnswer("connection closed");
        return { type: "publish", id: 3, epoch: "x1", offset: 45 };
      },
    } as unknown as Connection;
    const { f, calls } = scriptedFetch(["network"]);
    const r = await publish(deps(f, { connection: () => conn }), "chat:lobby", { text: "yo" }, { key: "k-123" });
    expect(r).toEqual({ epoch: "x1", offset: 45, key: "k-123" });
    expect(calls).toHaveLength(0);
    expect(sent).toEqual([
      { type: "publish", channel: "chat:lobby", data: { text: "yo" }, key: "k-123" },
      { type: "publish", channel: "chat:lobby", data: { text: "yo" }, key: "k-123" },
    ]);
  });

  it("refuses undefined data", async () => {
    const { f } = scriptedFetch(["network"]);
    await expect(publish(deps(f), "chat:lobby", undefined)).rejects.toBeInstanceOf(TypeError);
  });
});
