// The little of a browser that nexmo-client 4.x needs under Node 20 (reference §1.9), for the image tests:
// - `Storage` + `localStorage`: login refuses to run without them, and the SDK keeps its token there
//   (`NXMO_user_data`), which image upload and fetch read;
// - `XMLHttpRequest`: `sendImage` POSTs a FormData to the IPS and `ImageEvent.fetchImage` GETs an arraybuffer.
// FormData, File, TextDecoder, EventTarget and btoa are Node's own. Nothing else of XHR is implemented.

const memory = new Map();

export function installStorage() {
  globalThis.Storage = function Storage() {};
  globalThis.localStorage = {
    getItem: (key) => (memory.has(key) ? memory.get(key) : null),
    setItem: (key, value) => memory.set(key, String(value)),
    removeItem: (key) => memory.delete(key),
  };
}

// One token store per process, set by the latest login: switch it to the user about to act (reference §9).
export function actAs(username, token) {
  globalThis.localStorage.setItem('NXMO_user_data', JSON.stringify({ username, token }));
}

class XMLHttpRequest {
  static DONE = 4;

  constructor() {
    this.readyState = 0;
    this.status = 0;
    this.statusText = '';
    this.responseType = '';
    this.response = null;
    this.responseText = '';
    this.upload = new EventTarget(); // `sendImage` listens for upload progress
    this.headers = {};
    this.controller = new AbortController();
  }

  open(method, url) {
    this.method = method;
    this.url = url;
    this.readyState = 1;
  }

  setRequestHeader(name, value) {
    this.headers[name] = value;
  }

  // Like a browser: `loadstart` at once (`networkSend` resolves on it), the rest when the response is in.
  send(body) {
    this.onloadstart?.({ type: 'loadstart' });
    fetch(this.url, { method: this.method, headers: this.headers, body: body ?? undefined,
      signal: this.controller.signal })
      .then(async (response) => {
        const bytes = await response.arrayBuffer();
        this.status = response.status;
        this.statusText = response.statusText;
        if (this.responseType === 'arraybuffer') {
          this.response = bytes;
        } else {
          this.responseText = new TextDecoder().decode(bytes);
          this.response = this.responseText;
        }
        this.readyState = 4;
        this.onreadystatechange?.();
        this.onload?.({ type: 'load' });
        this.onloadend?.({ type: 'loadend' });
      }, (error) => {
        this.readyState = 4;
        this.onreadystatechange?.();
        this.onerror?.(error);
      });
  }

  abort() {
    this.controller.abort();
  }
}

export function installXMLHttpRequest() {
  globalThis.XMLHttpRequest = XMLHttpRequest;
}
