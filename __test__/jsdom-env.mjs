// A jsdom page as the global environment, for React tests: import this before react-dom and the
// testing library (they read the globals when they load). fetch stays Node's own.
import { JSDOM } from 'jsdom'

export const dom = new JSDOM('<!doctype html><html><body></body></html>', { url: 'http://127.0.0.1/', pretendToBeVisual: true })
for (const key of ['window', 'document', 'navigator', 'HTMLElement', 'Node', 'Element', 'Event', 'FocusEvent', 'MouseEvent', 'KeyboardEvent', 'InputEvent', 'MutationObserver', 'getComputedStyle', 'requestAnimationFrame', 'cancelAnimationFrame']) {
  Object.defineProperty(globalThis, key, { configurable: true, get: () => (key === 'window' ? dom.window : dom.window[key]) })
}
// The client resolves a basePath against the page, as in a browser.
Object.defineProperty(globalThis, 'location', { configurable: true, get: () => dom.window.location })
globalThis.IS_REACT_ACT_ENVIRONMENT = true
