// The unmodified browser bundle of nexmo-client 4.1.0 in headless Chromium, on a page served from ANOTHER origin
// than parley (another port), with `cache: true`: its Web Worker keeps each conversation's history in IndexedDB.
// Alice chats with Bob (Bob's socket starts on Engine.IO polling and upgrades: credentialed cross-origin XHR),
// reloads, and her history comes first from the server, then from her cache (reference §1.7, §10): both must
// match the server's REST listing, with identical integer ids.
//
// Run by tests/e2e/test_browser.py (PARLEY_URL, PARLEY_APP_ID, PARLEY_PRIVATE_KEY; CHROMIUM, default
// /usr/bin/chromium, Debian's package: `apt-get install -y chromium`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { tokenGenerate } from '@vonage/jwt';
import { apiHost, applicationId, privateKey, createUser } from '../helpers.mjs';

const require = createRequire(import.meta.url);
const bundle = readFileSync(require.resolve('nexmo-client/dist/conversationClient.js'));
const page = `<!doctype html><html><head><meta charset="utf-8"><title>parley chat</title>
<script src="/conversationClient.js"></script></head><body>chat</body></html>`;
// Flags from the machine notes: no background traffic, which this closed network would refuse.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let site; // the static origin the app is served from
let siteUrl;
let browser;

before(async () => {
  site = createServer((request, response) => {
    const [body, type] = request.url === '/conversationClient.js'
      ? [bundle, 'application/javascript'] : [page, 'text/html; charset=utf-8'];
    response.writeHead(200, { 'content-type': type }).end(body);
  });
  await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
  siteUrl = `http://127.0.0.1:${site.address().port}/`;
  assert.notEqual(new URL(siteUrl).origin, new URL(apiHost).origin);
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  site?.close();
});

// In the page: a client like an app would make, plus instrumentation that only observes (what the socket emits,
// the server's conversation:events answers). `polling` starts Bob's socket on Engine.IO polling.
async function login(tab, token, polling) {
  return tab.evaluate(async ({ url, token, polling }) => {
    const socket_io = polling
      ? { transports: ['polling', 'websocket'], reconnection: false, forceNew: true, autoConnect: true }
      : { transports: ['websocket'], reconnection: false, forceNew: true, autoConnect: true };
    const client = new ConversationClient({ url, cache: true, sync: 'none', socket_io });
    window.sdk = client;
    window.emitted = [];
    window.served = []; // bodies of the server's conversation:events:success answers
    const emit = client.connection.emit.bind(client.connection);
    client.connection.emit = (name, ...args) => { window.emitted.push(name); return emit(name, ...args); };
    client.connection.io.on('packet', (packet) => {
      if (packet.type === 2 && packet.data[0] === 'conversation:events:success') window.served.push(packet.data[1].body);
    });
    window.transports = [client.connection.io.engine.transport.name];
    client.connection.io.engine.on('upgrade', (transport) => window.transports.push(transport.name));
    window.app = await client.login(token);
    return window.app.me.id;
  }, { url: apiHost, token, polling });
}

// The events the SDK keeps (texts and member events), as comparable rows.
const rows = (events) => events.filter((e) => e.type === 'text' || e.type.startsWith('member:'))
  .map((e) => [e.id, e.type, e.body?.text ?? null]);

// A hang fails the test within 90 s; `after` then closes the browser, so no Chromium outlives the run.
test('nexmo-client 4.1.0 in Chromium: a cross-origin chat, then the history from the server and the cache',
  { timeout: 90_000 }, async () => {
  const alice = await createUser('browser-alice');
  const bob = await createUser('browser-bob');
  const aliceToken = tokenGenerate(applicationId, privateKey, { subject: alice.name });
  const bobToken = tokenGenerate(applicationId, privateKey, { subject: bob.name });
  const [aliceContext, bobContext] = [await browser.newContext(), await browser.newContext()];
  const [aliceTab, bobTab] = [await aliceContext.newPage(), await bobContext.newPage()];
  await aliceTab.goto(siteUrl);
  await bobTab.goto(siteUrl);

  assert.equal(await login(aliceTab, aliceToken, false), alice.id);
  assert.equal(await login(bobTab, bobToken, true), bob.id);
  await bobTab.evaluate(() => {
    window.invited = new Promise((resolve) => window.app.on('member:invited', (member, event) => resolve(event.cid)));
    window.texts = [];
  });
  const cid = await aliceTab.evaluate(async (bobName) => {
    const conversation = await window.app.newConversation({ display_name: 'browser chat' });
    await conversation.join();
    await conversation.invite({ user_name: bobName });
    window.conversation = conversation;
    return conversation.id;
  }, bob.name);
  await bobTab.evaluate(async (cid) => {
    await window.invited;
    const conversation = await window.app.getConversation(cid);
    await conversation.join();
    conversation.on('text', (sender, text) => {
      if (text.from !== conversation.me.id) window.texts.push(text.body.text);
    });
    window.conversation = conversation;
  }, cid);
  await aliceTab.waitForFunction(() => [...window.conversation.members.values()]
    .filter((member) => member.state === 'JOINED').length === 2);
  // Alice's first listing goes to the server and is stored; the texts after it are appended to her cache live
  await aliceTab.evaluate(() => window.conversation.getEvents());
  await aliceTab.evaluate(() => window.conversation.sendText('one'));
  await bobTab.evaluate(() => window.conversation.sendText('two'));
  await aliceTab.evaluate(() => window.conversation.sendText('three'));
  await bobTab.waitForFunction(() => window.texts.length === 2); // Bob has 'one' and 'three', so Alice has all
  assert.deepEqual(await bobTab.evaluate(() => window.texts), ['one', 'three']);
  assert.deepEqual(await bobTab.evaluate(() => window.transports), ['polling', 'websocket']);

  // what the server has, through REST from the page (a preflighted cross-origin fetch with the bearer token)
  const listed = await aliceTab.evaluate(async ({ url, cid, token }) => {
    const response = await fetch(`${url}/v1/conversations/${cid}/events?page_size=100`,
      { headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' } });
    if (!response.ok) throw new Error(`REST listing: HTTP ${response.status}`);
    return (await response.json())._embedded.events.map((e) => [e.id, e.type, e.body?.text ?? null]);
  }, { url: apiHost, cid, token: aliceToken });
  const serverRows = listed.filter(([, type]) => type === 'text' || type.startsWith('member:'));
  assert.deepEqual(serverRows.map(([, type, text]) => [type, text]), [
    ['member:joined', null], ['member:invited', null], ['member:joined', null],
    ['text', 'one'], ['text', 'two'], ['text', 'three']]);
  assert.ok(serverRows.every(([id]) => Number.isInteger(id)));

  await aliceTab.reload();
  await login(aliceTab, aliceToken, false);
  const reloaded = await aliceTab.evaluate(async (cid) => {
    const conversation = await window.app.getConversation(cid);
    await conversation.getEvents(); // the page's first listing: from the server
    const fromServer = [...conversation.events.values()];
    // meanwhile the worker read what the previous page stored; once it has, the next listing is answered by it
    while (!window.sdk.cache.events_from_idb.get(cid)?.events) await new Promise((r) => setTimeout(r, 20));
    const cached = window.sdk.cache.events_from_idb.get(cid).events.body;
    await conversation.getEvents();
    return { fromServer: fromServer.map((e) => ({ id: e.id, type: e.type, body: e.body })), cached,
      merged: [...conversation.events.values()].map((e) => ({ id: e.id, type: e.type, body: e.body })),
      listings: window.emitted.filter((name) => name === 'conversation:events').length, served: window.served };
  }, cid);
  assert.equal(reloaded.listings, 1, 'the second listing was answered by the cache, not the server');
  assert.deepEqual(rows(reloaded.served[0]), serverRows);
  assert.deepEqual(rows(reloaded.fromServer), serverRows);
  assert.deepEqual(rows(reloaded.cached), serverRows); // stored by the first page: listing + live texts
  assert.deepEqual(rows(reloaded.merged), serverRows); // merged by id: nothing doubled, nothing missing

  await aliceContext.close();
  await bobContext.close();
});
