/** Sets `key` in a Map that holds at most `max` entries: when full, its oldest entry goes first. */
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  if (map.size >= max) map.delete(map.keys().next().value!);
  map.set(key, value);
}
