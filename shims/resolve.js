'use strict'
// Shared by the shims: accept an instance, a promise of one, or a getter (sync or async).

function resolver(source) {
  if (source === null || source === undefined) throw new TypeError('kavachos: pass an instance, a promise or a getter')
  let cached
  return () => {
    if (cached) return cached
    const value = typeof source === 'function' ? source() : source
    const p = Promise.resolve(value)
    // An instance or a promise is settled once; a getter is asked every time (it memoizes itself).
    if (typeof source !== 'function') cached = p
    return p
  }
}

/** A Web Headers object from Node's header record (arrays become repeated values). */
function toHeaders(record) {
  const h = new Headers()
  for (const [k, v] of Object.entries(record)) {
    if (v === undefined) continue
    if (Array.isArray(v)) for (const item of v) h.append(k, item)
    else h.append(k, String(v))
  }
  return h
}

module.exports = { resolver, toHeaders }
