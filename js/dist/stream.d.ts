import { Args } from './args.js';
import { type Codec } from './codec.js';
import { type Packet } from './frame.js';
import { Rerror } from './rerror.js';
/** The packet types of stream frames. */
export declare const TYPE_STREAM_OPEN = 4;
export declare const TYPE_STREAM_MSG = 5;
export declare const TYPE_STREAM_CTRL = 6;
/** A stream's receive window, in the metadata of an open or an accept. */
export declare const META_STREAM_WINDOW = "X-Tp-Window";
/** More bytes the other side may send, in the metadata of a credit. */
export declare const META_STREAM_CREDIT = "X-Tp-Credit";
/** The code of a stream its opener gave up. */
export declare const CODE_CANCELED = 499;
/** The default receive window of a stream the client opens: 256 KiB. */
export declare const DEFAULT_STREAM_WINDOW: number;
/** What a stream needs of its client: writing a frame on its connection. */
export interface StreamLink {
    write(p: Packet): Promise<void>;
}
/**
 * Stream is a stream the client opened, or one the server opened to a
 * handler of the client (handleStream): send messages with send (it
 * resolves once the other side's credit allowed the message and it was
 * written), read them with `for await (const msg of stream)` or recv, end
 * the sending side with closeSend and the whole stream with close.
 */
export declare class Stream<T = unknown> implements AsyncIterable<T> {
    #private;
    readonly id: bigint;
    readonly uri: string;
    readonly codec: Codec;
    readonly window: number;
    readonly link: StreamLink;
    readonly onEnd: (s: Stream<T>) => void;
    /** Whether the client opened the stream; false for one the server opened. */
    readonly opened: boolean;
    /**
     * The other side's metadata: on a stream the client opened, the
     * handler's, once accepted (see accepted); on one the server opened,
     * the open's.
     */
    readonly header: Args;
    /** On a stream the server opened: the metadata the accept carries (set it before the first send or recv). */
    readonly replyHeader: Args;
    /** On a stream the server opened: the handler's argument, decoded. */
    args: unknown;
    /** Aborts when the stream ends (the server's deadline or cancel included). */
    readonly signal: AbortSignal;
    /** Resolves once the server's handler accepted the stream; rejects if it ended first. */
    readonly accepted: Promise<void>;
    /** Resolves once the stream has ended, however it ended. */
    readonly ended: Promise<void>;
    constructor(id: bigint, uri: string, codec: Codec, window: number, link: StreamLink, onEnd: (s: Stream<T>) => void, 
    /** Whether the client opened the stream; false for one the server opened. */
    opened?: boolean, remoteWindow?: number);
    /** send encodes msg and writes it once the server's credit covers it. */
    /** sendHeader accepts a stream the server opened now, with replyHeader; the first send or recv does it otherwise. */
    sendHeader(): void;
    send(msg: unknown): Promise<void>;
    /** recv resolves with the next message, or done once the server finished sending; it rejects with the stream's error. */
    recv(): Promise<IteratorResult<T, undefined>>;
    [Symbol.asyncIterator](): AsyncIterator<T, undefined>;
    /** closeSend tells the server no more messages follow. */
    closeSend(): void;
    /** close ends the stream: cleanly once both sides finished, else with Code 499 (canceled) for the server. */
    close(reason?: Rerror): void;
    /** end ends the stream once, telling the server when tell. */
    end(err: Rerror | undefined, tell: boolean): void;
    /** onFrame handles a message or control frame of the stream from the server. */
    onFrame(p: Packet): void;
}
/** windowOf reads a window or credit: a decimal number in 1..2^30. */
export declare function windowOf(v: string | undefined): number | undefined;
