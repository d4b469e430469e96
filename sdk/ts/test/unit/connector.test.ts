// The fallback state machine, with fake transports whose behaviour each test
// scripts, on fake timers.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Backoff } from "../../src/backoff.js";
import { Connector, type ConnectorOptions } from "../../src/connector.js";
import { ErrorCode, SwitchboardError, noAnswer } from "../../src/errors.js";
import type { StorageLike, TransportName } from "../../src/options.js";
import { CLOSED_BY_CLIENT, CloseSignal, type CloseInfo, type Connection } from "../../src/transports/transport.js";

/** How a fake transport behaves on open: opens, fails, hangs, or is refused with a code. */
type Behaviour = "open" | "fail" | "hang" | number;

class FakeConnection implements Connection {
  readonly client = undefined;
  started = 0;
  closedByClient = false;
  private readonly signal = new CloseSignal();

  constructor(
    readonly transport: TransportName,
    private readonly behaviour: Behaviour,
  ) {}

  get closed(): Promise<CloseInfo> {
    return this.signal.promise;
  }

  onClosed(listener: (info: CloseInfo) => void): void {
    this.signal.listen(listener);
  }

  open(): Promise<void> {
    switch (this.behaviour) {
      case "open":
        return Promise.resolve();
      case "fail":
        // As a WebSocket whose upgrade is refused, or that closes before the connect reply.
        this.signal.fire({ code: 1006, reason: "", reconnect: true });
        return Promise.reject(noAnswer("closed before the first frame"));
      case "hang":
        return new Promise(() => {});
      default:
        return Promise.reject(new SwitchboardError(this.behaviour, "refused"));
    }
  }

  start(): void {
    this.started++;
  }

  sync(): void {}

  close(): void {
    this.closedByClient = true;
    this.signal.fire(CLOSED_BY_CLIENT);
  }

  /** The node ends the connection. */
  drop(info: CloseInfo): void {
    this.signal.fire(info);
  }
}

class MemoryStorage implements StorageLike {
  m = new Map<string, string>();
  getItem(k: string): string | null {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    this.m.set(k, v);
  }
}

interface Harness {
  connector: Connector;
  log: string[];
  made: FakeConnection[];
  storage: MemoryStorage;
  refreshes: number;
  /** Scripts the next opens of a transport; the last behaviour repeats. */
  script: Record<string, Behaviour[]>;
}

function harness(over: Partial<ConnectorOptions> & { remembered?: TransportName; random?: () => number } = {}): Harness {
  const h: Harness = {
    log: [],
    made: [],
    storage: new MemoryStorage(),
    refreshes: 0,
    script: { websocket: ["open"], sse: ["open"], longpoll: ["open"] },
    connector: undefined as unknown as Connector,
  };
  if (over.remembered) h.storage.setItem("k", over.remembered);
  h.connector = new Connector({
    transports: ["websocket", "sse", "longpoll"],
    openTimeout: 5_000,
    upgradeInterval: 60_000,
    backoff: new Backoff({ min: 500, max: 20_000, stableAfter: 10_000, random: over.random ?? (() => 0.999999) }),
    storage: h.storage,
    storageKey: "k",
    create: (t) => {
      const list = h.script[t]!;
      const b = list.length > 1 ? list.shift()! : list[0]!;
      const c = new FakeConnection(t, b);
      h.made.push(c);
      return c;
    },
    prepare: async () => {},
    refreshToken: async () => {
      h.refreshes++;
    },
    onConnecting: (t) => h.log.push(`connecting ${t}`),
    onConnected: (c) => h.log.push(`connected ${c.transport}`),
    onDisconnected: (i) => h.log.push(`disconnected ${i.code} ${i.reconnect ? "reconnect" : "stop"}`),
    ...over,
  });
  return h;
}

const last = (h: Harness, t: TransportName) => h.made.filter((c) => c.transport === t).at(-1)!;

describe("connector", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("falls back to SSE when the WebSocket closes before its first frame, and remembers it", async () => {
    const h = harness();
    h.script.websocket = ["fail"];
    h.connector.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.log).toEqual(["connecting websocket", "connecting sse", "connected sse"]);
    expect(h.storage.getItem("k")).toBe("sse");
    expect(h.connector.connection?.transport).toBe("sse");
    expect(last(h, "sse").started).toBe(1);
    h.connector.stop();
  });

  it("falls back when a transport does not open in time, and closes the attempt", async () => {
    const h = harness();
    h.script.websocket = ["hang"];
    h.script.sse = ["hang"];
    h.connector.start();
    await vi.advanceTimersByTimeAsync(4_999);
    expect(h.log).toEqual(["connecting websocket"]);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.log).toEqual(["connecting websocket", "connecting sse"]);
    expect(last(h, "websocket").closedByClient).toBe(true);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(h.log).toEqual(["connecting websocket", "connecting sse", "connecting longpoll", "connected longpoll"]);
    h.connector.stop();
  });

  it("starts with the transport that worked before", async () => {
    const h = harness({ remembered: "longpoll" });
    h.connector.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.log).toEqual(["connecting longpoll", "connected longpoll"]);
    h.connector.stop();
  });

  it("wraps round to the better transports when the remembered one fails", async () => {
    const h = harness({ remembered: "longpoll" });
    h.script.longpoll = ["fail"];
    h.connector.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.log).toEqual(["connecting longpoll", "connecting websocket", "connected websocket"]);
    expect(h.storage.getItem("k")).toBe("websocket");
    h.connector.stop();
  });

  it("tries the better transports again later and switches to one that opens", async () => {
    const h = harness({ remembered: "longpoll" });
    h.script.websocket = ["fail", "open"];
    h.script.sse = ["fail"];
    h.connector.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.log).toEqual(["connecting longpoll", "connected longpoll"]);
    const poll = last(h, "longpoll");
    await vi.advanceTimersByTimeAsync(60_000); // websocket and sse still fail
    expect(h.connector.connection).toBe(poll);
    await vi.advanceTimersByTimeAsync(60_000); // websocket opens
    expect(h.log.slice(2)).toEqual(["connected websocket"]);
    expect(poll.closedByClient).toBe(true);
    expect(h.connector.connection?.transport).toBe("websocket");
    expect(h.storage.getItem("k")).toBe("websocket");
    // On the best transport there is nothing better to try.
    const made = h.made.length;
    await vi.advanceTimersByTimeAsync(600_000);
    expect(h.made.length).toBe(made);
    h.connector.stop();
  });

  it("never tries to upgrade when upgradeInterval is negative", async () => {
    const h = harness({ remembered: "sse", upgradeInterval: -1 });
    h.connector.start();
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(h.log).toEqual(["connecting sse", "connected sse"]);
    h.connector.stop();
  });

  it("reconnects after a drop, on the same transport first, after a backoff", async () => {
    const h = harness({ random: () => 0.999999 });
    h.connector.start();
    await vi.advanceTimersByTimeAsync(0);
    last(h, "websocket").drop({ code: 3001, reason: "shutdown", reconnect: true });
    await vi.advanceTimersByTimeAsync(0);
    expect(h.log).toEqual(["connecting websocket", "connected websocket", "disconnected 3001 reconnect"]);
    // The connection lasted less than stableAfter: the first wait's ceiling is min (500ms).
    await vi.advanceTimersByTimeAsync(499);
    expect(h.log).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.log.slice(3)).toEqual(["connecting websocket", "connected websocket"]);
    h.connector.stop();
  });

  it("waits longer after each failed round, and starts over after a stable connection", async () => {
    const h = harness({ random: () => 0.999999 });
    h.script = { websocket: ["fail", "fail", "fail", "open"], sse: ["fail"], longpoll: ["fail", "fail", "fail", "open"] };
    h.connector.start();
    const rounds: number[] = [];
    const count = () => h.log.filter((l) => l === "connecting websocket").length;
    await vi.advanceTimersByTimeAsync(0);
    if (count() > rounds.length) rounds.push(0);
    for (let t = 100; t <= 4_000; t += 100) {
      await vi.advanceTimersByTimeAsync(100);
      if (count() > rounds.length) rounds.push(t);
    }
    // Waits of 500, 1000 and 2000ms between rounds (full jitter at its top).
    expect(rounds).toEqual([0, 500, 1500, 3500]);
    expect(h.log.at(-1)).toBe("connected websocket");
    await vi.advanceTimersByTimeAsync(10_000);
    last(h, "websocket").drop({ code: 3001, reason: "", reconnect: true });
    await vi.advanceTimersByTimeAsync(0);
    const n = h.log.length;
    await vi.advanceTimersByTimeAsync(500);
    expect(h.log.slice(n)).toEqual(["connecting websocket", "connected websocket"]);
    h.connector.stop();
  });

  it("stops when the node says not to reconnect", async () => {
    const h = harness();
    h.connector.start();
    await vi.advanceTimersByTimeAsync(0);
    last(h, "websocket").drop({ code: 3500, reason: "invalid token", reconnect: false });
    await vi.advanceTimersByTimeAsync(600_000);
    expect(h.log).toEqual(["connecting websocket", "connected websocket", "disconnected 3500 stop"]);
    expect(h.connector.running).toBe(false);
  });

  it("does not fall back when the node refuses: the other transports would be refused too", async () => {
    const h = harness();
    h.script.websocket = [ErrorCode.Unauthorized];
    h.connector.start();
    await vi.advanceTimersByTimeAsync(600_000);
    expect(h.log).toEqual(["connecting websocket", `disconnected ${ErrorCode.Unauthorized} stop`]);
  });

  it("waits and tries again when the node is busy", async () => {
    const h = harness();
    h.script.websocket = [ErrorCode.ConnectionLimit, "open"];
    h.connector.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.log).toEqual(["connecting websocket", `disconnected ${ErrorCode.ConnectionLimit} reconnect`]);
    await vi.advanceTimersByTimeAsync(500);
    expect(h.log.slice(2)).toEqual(["connecting websocket", "connected websocket"]);
    h.connector.stop();
  });

  it("renews an expired token and tries the same transport again", async () => {
    const h = harness();
    h.script.websocket = [ErrorCode.TokenExpired, "open"];
    h.connector.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.refreshes).toBe(1);
    expect(h.log).toEqual(["connecting websocket", "connecting websocket", "connected websocket"]);
    h.connector.stop();
  });

  it("renews the token after a disconnect for an expired one", async () => {
    const h = harness();
    h.connector.start();
    await vi.advanceTimersByTimeAsync(0);
    last(h, "websocket").drop({ code: 3005, reason: "token expired", reconnect: true });
    await vi.advanceTimersByTimeAsync(500);
    expect(h.refreshes).toBe(1);
    expect(h.log.slice(2)).toEqual(["disconnected 3005 reconnect", "connecting websocket", "connected websocket"]);
    h.connector.stop();
  });

  it("stops for good when a token cannot be renewed", async () => {
    const h = harness({
      refreshToken: async () => {
        throw new SwitchboardError(ErrorCode.TokenExpired, "no getToken");
      },
    });
    h.connector.start();
    await vi.advanceTimersByTimeAsync(0);
    last(h, "websocket").drop({ code: 3005, reason: "token expired", reconnect: true });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.log.slice(2)).toEqual(["disconnected 3005 stop"]);
  });

  it("stop closes the connection and ends the loop; start begins again", async () => {
    const h = harness();
    h.connector.start();
    await vi.advanceTimersByTimeAsync(0);
    const ws = last(h, "websocket");
    h.connector.stop();
    expect(ws.closedByClient).toBe(true);
    expect(h.connector.connection).toBeUndefined();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.log).toEqual(["connecting websocket", "connected websocket"]);
    h.connector.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.log.slice(2)).toEqual(["connecting websocket", "connected websocket"]);
    h.connector.stop();
  });

  it("stop during a backoff wait ends the loop", async () => {
    const h = harness();
    h.script = { websocket: ["fail"], sse: ["fail"], longpoll: ["fail"] };
    h.connector.start();
    await vi.advanceTimersByTimeAsync(0);
    h.connector.stop();
    const n = h.made.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.made.length).toBe(n);
  });
});
