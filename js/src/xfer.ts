// Transfer filters: transformations of a frame's payload (gzip, ...).

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

const byId = new Map<number, XferFilter>();
const byName = new Map<string, XferFilter>();

/** registerFilter makes filter known; it throws on a taken id or name. */
export function registerFilter(filter: XferFilter): void {
  if (!Number.isInteger(filter.id) || filter.id < 0 || filter.id > 255) {
    throw new RangeError(`registerFilter: invalid id ${filter.id} for filter "${filter.name}"`);
  }
  if (byId.has(filter.id) || byName.has(filter.name)) {
    throw new Error(`registerFilter: id ${filter.id} or name "${filter.name}" is taken`);
  }
  byId.set(filter.id, filter);
  byName.set(filter.name, filter);
}

/** getFilter returns the filter registered with id or name, or undefined. */
export function getFilter(ref: XferRef): XferFilter | undefined {
  return typeof ref === 'number' ? byId.get(ref) : byName.get(ref);
}

/** filterIds turns refs into registered filter ids, throwing on unknown ones. */
export function filterIds(refs: readonly XferRef[]): number[] {
  if (refs.length > 255) {
    throw new RangeError(`${refs.length} transfer filters: at most 255`);
  }
  return refs.map((r) => {
    const f = getFilter(r);
    if (f === undefined) {
      throw new Error(`unknown transfer filter ${JSON.stringify(r)}`);
    }
    return f.id;
  });
}
