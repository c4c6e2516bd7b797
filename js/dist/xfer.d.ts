/**
 * XferFilter transforms a frame's payload. onUnpack must refuse (throw)
 * rather than produce more than limit bytes.
 */
export interface XferFilter {
    readonly id: number;
    readonly name: string;
    onPack(data: Uint8Array): Uint8Array | Promise<Uint8Array>;
    onUnpack(data: Uint8Array, limit: number): Uint8Array | Promise<Uint8Array>;
}
/** A filter given by name ("gzip") or by id. */
export type XferRef = string | number;
/** registerFilter makes filter known; it throws on a taken id or name. */
export declare function registerFilter(filter: XferFilter): void;
/** getFilter returns the filter registered with id or name, or undefined. */
export declare function getFilter(ref: XferRef): XferFilter | undefined;
/** filterIds turns refs into registered filter ids, throwing on unknown ones. */
export declare function filterIds(refs: readonly XferRef[]): number[];
