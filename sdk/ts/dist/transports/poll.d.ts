import { type CloseInfo, type Connection, type ConnectionContext } from "./transport.js";
export declare class PollConnection implements Connection {
    private readonly ctx;
    readonly transport: "longpoll" | "poll";
    client: string | undefined;
    private readonly signal;
    private started;
    private first;
    private carried;
    private abort;
    private inFlight;
    private wake;
    private readonly memory;
    constructor(ctx: ConnectionContext, transport: "longpoll" | "poll");
    get closed(): Promise<CloseInfo>;
    onClosed(listener: (info: CloseInfo) => void): void;
    open(): Promise<void>;
    start(): void;
    /** A channel change restarts the poll in flight with the new list. */
    sync(): void;
    close(): void;
    private loop;
    /**
     * poll sends one poll for reqs and settles what the node refuses (a
     * channel, an expired token, a bad cursor) before trying again with what
     * is left. It returns the requests actually sent with the reply, or
     * undefined when every channel was refused.
     */
    private poll;
    /**
     * apply hands a reply to the client: first the channels the node started
     * on this connection, and any it could not recover (a gap), then the
     * publications.
     */
    private apply;
    private pause;
    private end;
}
