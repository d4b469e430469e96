import { type Command, type ServerFrame } from "../protocol.js";
import { type CloseInfo, type Connection, type ConnectionContext } from "./transport.js";
export declare class WebSocketConnection implements Connection {
    private readonly ctx;
    readonly transport: "websocket";
    client: string | undefined;
    private ws;
    private readonly signal;
    private nextId;
    private pending;
    private channels;
    private started;
    private disconnect;
    private watchdog;
    private silence;
    private openSettle;
    constructor(ctx: ConnectionContext);
    get closed(): Promise<CloseInfo>;
    onClosed(listener: (info: CloseInfo) => void): void;
    open(): Promise<void>;
    start(): void;
    /** Subscribes what the client has and the node does not, and the reverse. */
    sync(): void;
    close(): void;
    request(cmd: Command, timeout: number): Promise<ServerFrame>;
    private subscribe;
    private subscribed;
    private refreshThen;
    private receive;
    private reply;
    private alive;
    private fail;
    private socketClosed;
    /**
     * end is the one way out: it settles open (rejecting with err), rejects
     * what waits for a reply, closes the socket and resolves closed.
     */
    private end;
    private send;
}
