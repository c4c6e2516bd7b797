import type { Args } from './args.js';
/** The metadata key a reply carries its error under, as JSON. */
export declare const META_RERROR_KEY = "X-Reply-Error";
/** Error codes, as teleport numbers them; handlers may use their own. */
export declare const Code: {
    readonly UnknownError: -1;
    readonly ConnClosed: 102;
    readonly WriteFailed: 104;
    readonly DialFailed: 105;
    readonly BadPacket: 400;
    readonly NotFound: 404;
    readonly PtypeNotAllowed: 405;
    readonly HandleTimeout: 408;
    readonly InternalServerError: 500;
    readonly NotImplemented: 501;
    readonly ServiceUnavailable: 503;
};
/**
 * Rerror is how a pull fails: a code, a short message, and a detail saying
 * what went wrong this time. Throw one from a handler to answer a pull
 * with it.
 */
export declare class Rerror extends Error {
    readonly code: number;
    readonly detail: string;
    constructor(code: number, message?: string, detail?: string);
    /** toJSON is the form carried in metadata. */
    toJSON(): {
        code: number;
        message?: string;
        detail?: string;
    };
    /** toString reads "rerror CODE: MESSAGE: DETAIL", as in Go. */
    toString(): string;
    /**
     * fromMeta returns the Rerror a reply carries in its metadata, or
     * undefined. teleport v3.0 escapes only `"` in that JSON, so a detail
     * with a backslash or a control character is not valid JSON: the code,
     * message and detail are then recovered field by field. Metadata from
     * which not even a code can be read is itself a BadPacket error.
     */
    static fromMeta(meta: Args): Rerror | undefined;
}
