import { type XferFilter } from './xfer.js';
/** GzipError reports a gzip stream that cannot be read, or is too large. */
export declare class GzipError extends Error {
    constructor(message: string);
}
/** The gzip filter, id 'g' (0x67), as registered by default. */
export declare const gzipFilter: XferFilter;
/**
 * gunzip inflates a gzip stream, complete or ended by a sync flush, and
 * throws a GzipError rather than produce more than limit bytes.
 */
export declare function gunzip(data: Uint8Array, limit: number): Promise<Uint8Array>;
