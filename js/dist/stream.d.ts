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
 * Stream is a stream the client opened: send messages with send (it
 * resolves once the server's credit allowed the message and it was
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
    /** The server's metadata, once accepted (see accepted). */
    readonly header: Args;
    /** Resolves once the server's handler accepted the stream; rejects if it ended first. */
    readonly accepted: Promise<void>;
    /** Resolves once the stream has ended, however it ended. */
    readonly ended: Promise<void>;
    constructor(id: bigint, uri: string, codec: Codec, window: number, link: StreamLink, onEnd: (s: Stream<T>) => void);
    /** send encodes msg and writes it once the server's credit covers it. */
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
