import { type CloseInfo, type Connection, type ConnectionContext } from "./transport.js";
export declare class SSEConnection implements Connection {
    private readonly ctx;
    readonly transport: "sse";
    client: string | undefined;
    private readonly signal;
    private stream;
    private next;
    private started;
    private syncQueued;
    private carried;
    constructor(ctx: ConnectionContext);
    get closed(): Promise<CloseInfo>;
    onClosed(listener: (info: CloseInfo) => void): void;
    open(): Promise<void>;
    start(): void;
    sync(): void;
    close(): void;
    private resync;
    /**
     * openStream opens a stream for reqs and waits for its connected event. A
     * stream refused before it connects does not say why (EventSource hides
     * the answer), so the same request is put to the poll endpoint as a short
     * poll, whose coded answer tells: a refused channel is dropped, an
     * expired token renewed, a bad cursor forgotten, and the stream tried
     * again; an answer there means SSE itself does not get through. It
     * resolves with undefined when every channel was refused.
     */
    private openStream;
    private explain;
    /** Makes s the delivering stream: its start positions first, then what it queued. */
    private activate;
    /**
     * silence is how long a stream may stay quiet before it is taken for
     * dead: the node sends a ping event every ping_interval seconds.
     */
    silence(pingInterval: number | undefined): number;
    private fail;
    private end;
}
