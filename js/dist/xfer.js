// Transfer filters: transformations of a frame's payload (gzip, ...).
const byId = new Map();
const byName = new Map();
/** registerFilter makes filter known; it throws on a taken id or name. */
export function registerFilter(filter) {
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
export function getFilter(ref) {
    return typeof ref === 'number' ? byId.get(ref) : byName.get(ref);
}
/** filterIds turns refs into registered filter ids, throwing on unknown ones. */
export function filterIds(refs) {
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
