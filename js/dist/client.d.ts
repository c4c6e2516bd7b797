import { Args, type ArgsInit } from './args.js';
import { type CodecRef } from './codec.js';
import { type XferRef } from './xfer.js';
import { Stream } from './stream.js';
/** The parts of the WebSocket API the client uses (browsers', Node 22's, the ws package's). */
export interface WebSocketLike {
    binaryType: string;
    readonly readyState: number;
    onopen: ((ev: unknown) => void) | null;
    onmessage: ((ev: {
        data: unknown;
    }) => void) | null;
    onclose: ((ev: {
        code: number;
        reason: string;
    }) => void) | null;
    onerror: ((ev: unknown) => void) | null;
    send(data: Uint8Array): void;
    close(code?: number, reason?: string): void;
}
/** A WebSocket constructor, such as globalThis.WebSocket or the ws package's. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;
/** How the client reconnects after a connection is lost (or cannot be made). */
export interface ReconnectOptions {
    /** Tries in a row (no connection in between stayed open for a second) before giving up; Infinity by default. */
    retries?: number;
    /** The first wait, in ms (50); each next one doubles it. */
    minDelay?: number;
    /** The longest wait, in ms (5000). */
    maxDelay?: number;
}
/** What onClose reports. */
export interface CloseInfo {
    code: number;
    reason: string;
    /** Whether the client tries again. */
    reconnecting: boolean;
}
/** Options of a Client; every field may be left out. */
export interface ClientOptions {
    /** The WebSocket implementation; globalThis.WebSocket by default. */
    WebSocket?: WebSocketConstructor;
    /** The body codec of pulls and pushes whose options name none; 'json' by default. */
    codec?: CodecRef;
    /** The timeout of pulls whose options set none, in ms; 0 (the default): none. */
    timeout?: number;
    /** The largest frame sent or accepted, and the most a payload may inflate to; 1 GiB by default. */
    sizeLimit?: number;
    /** Reconnect with backoff (the default), or not (false). */
    reconnect?: boolean | ReconnectOptions;
    /** Called each time a connection opens. */
    onOpen?: () => void;
    /** Called each time a connection closes. */
    onClose?: (info: CloseInfo) => void;
    /** Errors no caller waits for: a bad frame from the server, a push handler that threw. */
    onError?: (err: Error) => void;
}
/** Options of a pull or a push. */
export interface CallOptions {
    /** The body codec: a Codec (e.g. one for a protobuf type), or a registered name or id. */
    codec?: CodecRef;
    /** Metadata to send. */
    meta?: ArgsInit;
    /** Transfer filters, outer-most first: ['gzip']. */
    xfer?: XferRef[];
    /** Gives up: for a pull, waiting for the reply too (Code.HandleTimeout). */
    signal?: AbortSignal;
    /**
     * Like signal, after this many ms. A pull carries the time left
     * (X-Tp-Timeout), so a Go handler's Context ends with it too; a pull
     * given up by its timeout or signal sends the server a cancel notice
     * once the server has said it understands them.
     */
    timeout?: number;
}
/** A pull's reply. */
export interface PullResult<T = unknown> {
    /** The body, decoded (undefined when empty). */
    reply: T;
    /** The reply's metadata. */
    meta: Args;
    /** The reply's body codec id. */
    codec: number;
    /** The body as it came. */
    body: Uint8Array;
}
/** What a push handler is given about the server's push. */
export interface PushContext {
    readonly client: Client;
    readonly seq: bigint;
    readonly uri: string;
    /** The URI without its query. */
    readonly path: string;
    readonly query: URLSearchParams;
    readonly meta: Args;
    /** The body codec id. */
    readonly codec: number;
    /** The body as it came. */
    readonly body: Uint8Array;
    /** The body decoded with its registered codec; throws a BadPacket Rerror if it cannot be. */
    readonly args: unknown;
    /** bind decodes the body with codec (for types a registered codec cannot know). */
    bind(codec: CodecRef): unknown;
}
/** What a pull handler is given about the server's pull, and can shape the reply with. */
export interface PullContext extends PushContext {
    /**
     * Aborted when the server's caller gives up: its deadline passed (sent
     * as X-Tp-Timeout), it cancelled the pull (a cancel notice), or the
     * connection closed. Pass it on to the calls the handler makes.
     */
    readonly signal: AbortSignal;
    /** The reply's metadata. */
    readonly replyMeta: Args;
    /** The reply's codec: the pull's unless set. */
    replyCodec: CodecRef;
    /** The reply's transfer filters. */
    replyXfer: XferRef[];
}
/** Answers a server's pull: the reply, or a thrown Rerror. */
export type PullHandler = (ctx: PullContext) => unknown | Promise<unknown>;
/** Takes a server's push. */
export type PushHandler = (ctx: PushContext) => void | Promise<void>;
/**
 * A handler of a stream the server opens: it reads and sends on stream;
 * when it returns the stream ends well, when it throws it ends with the
 * error (a Rerror keeps its code, anything else is 500).
 */
export type StreamHandler = (stream: Stream) => void | Promise<void>;
/** The pull metadata carrying the caller's time left, in microseconds. */
export declare const META_TIMEOUT_KEY = "X-Tp-Timeout";
/**
 * Client is a teleport peer over one WebSocket at a time: it pulls and
 * pushes, answers the server's pulls and takes its pushes with the
 * handlers registered for their paths, and reconnects with backoff.
 * It starts connecting at once; calls made meanwhile wait for the
 * connection (within their timeout or signal).
 */
export declare class Client {
    #private;
    readonly url: string;
    /**
     * @param url ws:// or wss:// URL of the server's WebSocket handler; in a
     * browser a path ("/tp") means the page's own host.
     */
    constructor(url: string, options?: ClientOptions);
    /** Whether a connection is open and takes new calls. */
    get isOpen(): boolean;
    /** Whether close was called, or reconnecting gave up. */
    get isClosed(): boolean;
    /** ready resolves once a connection is open (rejects once the client is closed). */
    ready(options?: {
        signal?: AbortSignal;
        timeout?: number;
    }): Promise<void>;
    /** handlePull answers the server's pulls of path (a URI without query) with handler. */
    handlePull(path: string, handler: PullHandler): this;
    /** handleStream takes the streams the server opens to path with handler. */
    handleStream(path: string, handler: StreamHandler): this;
    /** handlePush takes the server's pushes of path with handler. */
    handlePush(path: string, handler: PushHandler): this;
    /**
     * pull sends args to uri and resolves with the reply, or rejects with a
     * Rerror: the handler's own, Code.NotFound, Code.HandleTimeout (timeout
     * or signal), Code.ConnClosed (the connection closed first),
     * Code.WriteFailed, Code.BadPacket (a reply that cannot be decoded).
     * Uint8Array args go with the string codec, undefined as an empty body.
     */
    pull<T = unknown>(uri: string, args?: unknown, options?: CallOptions): Promise<PullResult<T>>;
    /**
     * push sends args to uri and resolves once it is written; it rejects
     * with a Rerror (Code.ConnClosed, Code.WriteFailed, or Code.HandleTimeout
     * when its timeout or signal ends the wait for a connection).
     */
    push(uri: string, args?: unknown, options?: CallOptions): Promise<void>;
    /**
     * openStream opens a stream to uri, a route of the Go server's
     * StreamRouter, with args as its handler's argument, and resolves once
     * it is written (see Stream). Its messages use args' codec (or
     * options.codec; the client's default without args). options.signal
     * and options.timeout bound the whole stream (the timeout travels to
     * the handler, as a pull's); options.window is the stream's receive
     * window in bytes (256 KiB). It rejects with Code.NotImplemented when
     * the server does not understand streams.
     */
    openStream<T = unknown>(uri: string, args?: unknown, options?: CallOptions & {
        window?: number;
    }): Promise<Stream<T>>;
    /**
     * close closes the connection and stops reconnecting; waiting pulls end
     * with Code.ConnClosed. It resolves once every connection has closed.
     */
    close(): Promise<void>;
}
