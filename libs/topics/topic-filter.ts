/**
 * MQTT topic names and topic filters: validation and matching (MQTT 3.1.1 §4.7, MQTT 5.0 §4.7, §4.8.2).
 *
 * Pure, allocation-free on the matching path: the broker calls `topicMatches` per message.
 * Validation answers a short problem text (or null), never throws: callers turn the text into
 * `invalidArgument(field, problem)` or an MQTT reason code at their own boundary.
 */

const SLASH = 0x2f; // '/'
const PLUS = 0x2b; // '+'
const HASH = 0x23; // '#'
const DOLLAR = 0x24; // '$'
const MAX_BYTES = 65_535; // UTF-8 encoded strings are at most 65,535 bytes (MQTT 3.1.1 §1.5.3, MQTT 5.0 §1.5.4)
const SHARE_PREFIX = '$share/';

/**
 * Problem with the characters or encoded length of a topic string, or null.
 * [MQTT-1.5.3-1] / v5 [MQTT-1.5.4-1] well-formed UTF-8 (no unpaired surrogates);
 * [MQTT-1.5.3-2] / v5 [MQTT-1.5.4-2] no U+0000;
 * [MQTT-4.7.3-1] at least one character; 65,535 bytes at most once encoded.
 */
function checkTopicString(value: string): string | null {
  if (value.length === 0) return 'must not be empty';
  // Every UTF-16 unit encodes to at most 3 bytes: short strings cannot overflow, skip the count.
  const mustCount = value.length * 3 > MAX_BYTES;
  let bytes = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0) return 'must not contain U+0000';
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return 'must be well-formed UTF-8 (unpaired surrogate)';
      bytes += 4;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return 'must be well-formed UTF-8 (unpaired surrogate)';
    else bytes += 3;
  }
  if (mustCount && bytes > MAX_BYTES) return `must be at most ${MAX_BYTES} bytes in UTF-8 (is ${bytes})`;
  return null;
}

/** Null when `topic` is a valid PUBLISH topic name, else a short problem text. */
export function checkTopicName(topic: string): string | null {
  const problem = checkTopicString(topic);
  if (problem !== null) return problem;
  // [MQTT-3.3.2-2] the topic name in a PUBLISH must not contain wildcard characters.
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === PLUS || c === HASH) return `must not contain the wildcard '${topic[i]}'`;
  }
  return null;
}

/**
 * `$share/{group}/{filter}` → its parts; null when `filter` is not shaped as a shared
 * subscription (no `$share/` prefix, or no `/` after the group). Does not validate the parts:
 * `checkTopicFilter` does.
 */
export function parseSharedFilter(filter: string): { group: string; filter: string } | null {
  if (!filter.startsWith(SHARE_PREFIX)) return null;
  const slash = filter.indexOf('/', SHARE_PREFIX.length);
  if (slash < 0) return null;
  return { group: filter.slice(SHARE_PREFIX.length, slash), filter: filter.slice(slash + 1) };
}

/** Null when `filter` is a valid SUBSCRIBE topic filter (plain or `$share/`), else a short problem text. */
export function checkTopicFilter(filter: string): string | null {
  const problem = checkTopicString(filter);
  if (problem !== null) return problem;
  if (filter.startsWith(SHARE_PREFIX) || filter === '$share') {
    const shared = parseSharedFilter(filter);
    if (shared === null) return 'shared subscription must be $share/{group}/{filter}';
    // [MQTT-4.8.2-1] ShareName at least one character, [MQTT-4.8.2-2] no '/', '+' or '#'.
    if (shared.group.length === 0) return 'shared subscription group must not be empty';
    if (shared.group.includes('+') || shared.group.includes('#')) return 'shared subscription group must not contain + or #';
    if (shared.filter.length === 0) return 'shared subscription filter must not be empty';
    return checkFilterLevels(shared.filter);
  }
  return checkFilterLevels(filter);
}

function checkFilterLevels(filter: string): string | null {
  const last = filter.length - 1;
  for (let i = 0; i <= last; i++) {
    const c = filter.charCodeAt(i);
    if (c === HASH) {
      // [MQTT-4.7.1-2] '#' alone in its level and the last character of the filter.
      if (i !== last) return "'#' must be the last level";
      if (i > 0 && filter.charCodeAt(i - 1) !== SLASH) return "'#' must fill a whole level";
    } else if (c === PLUS) {
      // [MQTT-4.7.1-3] '+' must occupy an entire level.
      if ((i > 0 && filter.charCodeAt(i - 1) !== SLASH) || (i < last && filter.charCodeAt(i + 1) !== SLASH)) {
        return "'+' must fill a whole level";
      }
    }
  }
  return null;
}

/**
 * Whether `topic` (a topic name) matches `filter` (a valid topic filter; a `$share/` filter
 * matches by its inner filter). `#` also matches the parent level (`a/#` matches `a`)
 * [MQTT-4.7.1-2]; a filter starting with a wildcard never matches a `$` topic [MQTT-4.7.2-1].
 * Walks both strings in place: no split, no allocation (except for a shared filter).
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter.charCodeAt(0) === DOLLAR) {
    const shared = parseSharedFilter(filter);
    if (shared !== null) filter = shared.filter;
  }
  const fl = filter.length;
  const tl = topic.length;
  if (fl === 0 || tl === 0) return false;
  const first = filter.charCodeAt(0);
  if (topic.charCodeAt(0) === DOLLAR && (first === HASH || first === PLUS)) return false;
  let f = 0;
  let t = 0;
  for (;;) {
    // f and t are each at the start of a level.
    const fc = filter.charCodeAt(f);
    if (fc === HASH && f + 1 === fl) return true;
    if (fc === PLUS && (f + 1 === fl || filter.charCodeAt(f + 1) === SLASH)) {
      while (t < tl && topic.charCodeAt(t) !== SLASH) t++;
      f++;
    } else {
      while (f < fl && t < tl) {
        const c = filter.charCodeAt(f);
        if (c === SLASH) break;
        if (c !== topic.charCodeAt(t)) return false;
        f++;
        t++;
      }
      const filterAtEnd = f === fl || filter.charCodeAt(f) === SLASH;
      const topicAtEnd = t === tl || topic.charCodeAt(t) === SLASH;
      if (!filterAtEnd || !topicAtEnd) return false;
    }
    // Both at a '/' or at the end.
    if (f === fl) return t === tl;
    if (t === tl) return f + 2 === fl && filter.charCodeAt(f + 1) === HASH; // 'a/#' matches 'a'
    f++;
    t++;
  }
}
