// The In-App Messaging SDKs (nexmo-client <= 4.x, nexmo-conversation 0.1.x) keep their token in localStorage and
// refuse to log in without `Storage` (reference §1.9). Node has neither: importing this module installs an
// in-memory stand-in, one per process, before an SDK is loaded.
export const memory = new Map();
globalThis.Storage = function Storage() {};
globalThis.localStorage = {
  getItem: (key) => (memory.has(key) ? memory.get(key) : null),
  setItem: (key, value) => memory.set(key, String(value)),
  removeItem: (key) => memory.delete(key),
};
