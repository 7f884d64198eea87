// An XMLHttpRequest stand-in over node:http, for nexmo-client 6.x-9.x, whose REST calls go through XHR.
// Node 20 has no XMLHttpRequest, and `xmlhttprequest-ssl` (engine.io-client's) leaves `response` unparsed for
// responseType 'json' (reference §8). Only what the SDK uses: open, setRequestHeader, send, abort, the on*
// handlers, status, readyState, response / responseText, and an `upload` that accepts listeners.
import http from 'node:http';
import https from 'node:https';

export class XMLHttpRequest {
  static UNSENT = 0;
  static OPENED = 1;
  static HEADERS_RECEIVED = 2;
  static LOADING = 3;
  static DONE = 4;

  constructor() {
    this.readyState = XMLHttpRequest.UNSENT;
    this.status = 0;
    this.statusText = '';
    this.responseType = '';
    this.response = null;
    this.responseText = '';
    this.upload = { addEventListener() {}, removeEventListener() {} };
    this._headers = {};
    this._responseHeaders = {};
    this._request = null;
    this.onload = null;
    this.onerror = null;
    this.onloadstart = null;
    this.onreadystatechange = null;
  }

  open(method, url) {
    this._method = method;
    this._url = new URL(url);
    this._setState(XMLHttpRequest.OPENED);
  }

  setRequestHeader(name, value) {
    this._headers[name] = value;
  }

  getResponseHeader(name) {
    return this._responseHeaders[name.toLowerCase()] ?? null;
  }

  send(data = null) {
    const transport = this._url.protocol === 'https:' ? https : http;
    const payload = data == null ? null : Buffer.from(String(data));
    const headers = { ...this._headers, ...(payload && { 'Content-Length': payload.length }) };
    this._request = transport.request(this._url, { method: this._method, headers }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => this._finish(res, Buffer.concat(chunks).toString('utf8')));
    });
    this._request.on('error', (error) => {
      this._setState(XMLHttpRequest.DONE);
      this.onerror?.(error);
    });
    this.onloadstart?.();
    this._request.end(payload ?? undefined);
  }

  abort() {
    this._request?.destroy();
  }

  _finish(res, text) {
    this.status = res.statusCode;
    this.statusText = res.statusMessage;
    this._responseHeaders = res.headers;
    this.responseText = text;
    if (this.responseType === 'json') {
      try { this.response = text ? JSON.parse(text) : null; } catch { this.response = null; }
    } else {
      this.response = text;
    }
    this._setState(XMLHttpRequest.DONE);
    this.onload?.();
  }

  _setState(state) {
    this.readyState = state;
    this.onreadystatechange?.();
  }
}

// Install it where the SDK looks for it (a bare `XMLHttpRequest` global), and record every request so a test can
// assert which REST family a call used.
export const requests = [];
export function installXMLHttpRequest() {
  globalThis.XMLHttpRequest = class RecordedXMLHttpRequest extends XMLHttpRequest {
    send(data) {
      requests.push({ method: this._method, path: this._url.pathname, query: this._url.search });
      super.send(data);
    }
  };
}
