// Shared set-up for the end-to-end suites: the official, unmodified Vonage Node SDKs pointed at a live parley.
//
// Environment (set by tests/e2e/test_node_sdks.py, or by hand when running `node --test` directly):
//   PARLEY_URL          the server origin including the scheme, e.g. http://127.0.0.1:8080
//   PARLEY_APP_ID       the application id (`parley app create --json` prints it)
//   PARLEY_PRIVATE_KEY  path to the application's private key (PEM)
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { Auth } from '@vonage/auth';
import { Conversations } from '@vonage/conversations';
import { Users } from '@vonage/users';

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run these tests through tests/e2e/test_node_sdks.py, or export `
      + 'PARLEY_URL, PARLEY_APP_ID and PARLEY_PRIVATE_KEY for a running `parley serve`');
  }
  return value;
}

export const apiHost = required('PARLEY_URL').replace(/\/+$/, '');
export const applicationId = required('PARLEY_APP_ID');
export const privateKeyPath = required('PARLEY_PRIVATE_KEY');
export const privateKey = readFileSync(privateKeyPath, 'utf8');

// Every name a suite creates carries this prefix, so the suites can share one server (and be re-run against it).
export const runId = `e2e-${process.pid}-${Date.now().toString(36)}`;
export const unique = (label) => `${runId}-${label}-${randomUUID().slice(0, 8)}`;

// Admin clients: exactly how an application would construct them (credentials object, apiHost with the scheme).
export const users = new Users({ applicationId, privateKey: privateKeyPath }, { apiHost });
export const conversations = new Conversations({ applicationId, privateKey }, { apiHost });

// A Conversations client whose every token carries `sub` (a user token). @vonage/auth passes `jwtOptions`
// straight to @vonage/jwt `tokenGenerate`, which turns `subject` into the `sub` claim.
export function conversationsAs(userName) {
  return new Conversations(new Auth({ applicationId, privateKey, jwtOptions: { subject: userName } }), { apiHost });
}

export const ID = {
  user: /^USR-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  conversation: /^CON-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  member: /^MEM-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
};

// ISO-8601 UTC with milliseconds, e.g. 2019-09-03T18:40:24.324Z (reference §5).
export const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * Await a call that must fail with HTTP `status` (and, if given, the v1 error `code`).
 *
 * The SDKs throw `VetchError` from @vonage/vetch: `error.response` is the fetch `Response` (its body unread),
 * so the status is `error.response.status` and the RFC-7807-like error body is `await error.response.json()`.
 * Returns the error body.
 */
export async function rejectsWith(promise, status, code) {
  let error;
  try {
    const value = await promise;
    assert.fail(`expected a rejection with HTTP ${status}${code ? ` (${code})` : ''}, `
      + `but the call resolved with ${JSON.stringify(value)}`);
  } catch (caught) {
    if (caught instanceof assert.AssertionError) throw caught;
    error = caught;
  }
  assert.equal(error?.constructor?.name, 'VetchError',
    `expected an HTTP error from the SDK, got ${error?.stack || error}`);
  assert.ok(error.response, 'the VetchError carries the response');
  const text = await error.response.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* asserted below */ }
  assert.equal(error.response.status, status,
    `expected HTTP ${status}${code ? ` (${code})` : ''}, got ${error.response.status}: ${text}`);
  assert.match(error.response.headers.get('content-type') || '', /^application\/json/,
    `an error body must be JSON, got content-type ${error.response.headers.get('content-type')}: ${text}`);
  assert.ok(body && typeof body === 'object', `error body is not a JSON object: ${text}`);
  if (code) {
    assert.equal(body.code, code, `expected error code ${code}, got ${text}`);
    assert.equal(body.type, `https://developer.nexmo.com/api/conversation#${code}`, `error type: ${text}`);
  }
  for (const key of ['title', 'detail', 'instance']) {
    assert.equal(typeof body[key], 'string', `error body lacks "${key}": ${text}`);
  }
  return body;
}

// Drain an async generator (listAll*) into an array, with a guard against endless cursor loops.
export async function collect(generator, limit = 5000) {
  const items = [];
  for await (const item of generator) {
    items.push(item);
    if (items.length > limit) assert.fail(`a listAll* generator yielded more than ${limit} items (cursor loop?)`);
  }
  return items;
}

// The `cursor` parameter of an absolute `_links.next.href`, as the SDKs read it.
export function cursorOf(links) {
  assert.ok(links?.next?.href, `expected a _links.next.href, got ${JSON.stringify(links)}`);
  const url = new URL(links.next.href); // throws unless absolute
  const cursor = url.searchParams.get('cursor');
  assert.ok(cursor, `_links.next.href has no cursor: ${links.next.href}`);
  return cursor;
}

export function assertUniqueIds(items, what) {
  const ids = items.map((item) => item.id);
  const seen = new Set();
  const repeated = ids.filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
  assert.deepEqual(repeated, [], `${what}: ids repeated across pages`);
  return ids;
}

// `subset` in the order it appears inside `all` (for "my items appear in this order in a shared listing").
export function orderWithin(all, subset) {
  const wanted = new Set(subset);
  return all.filter((id) => wanted.has(id));
}

export async function createUser(label, extra = {}) {
  return users.createUser({ name: unique(label), displayName: label, ...extra });
}

export async function createConversation(label, extra = {}) {
  return conversations.createConversation({ name: unique(label), displayName: label.slice(0, 50), ...extra });
}

export async function join(conversationId, userName) {
  return conversations.createMember(conversationId, { state: 'JOINED', user: { name: userName }, channel: { type: 'app' } });
}

export async function invite(conversationId, userName) {
  return conversations.createMember(conversationId, { state: 'INVITED', user: { name: userName }, channel: { type: 'app' } });
}

export async function sendText(conversationId, memberId, text) {
  return conversations.createEvent(conversationId, {
    type: 'message', from: memberId, body: { messageType: 'text', text },
  });
}
