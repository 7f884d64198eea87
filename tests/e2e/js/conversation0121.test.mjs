// nexmo-conversation 0.1.21 (the SDK of the original developer preview), unmodified, under Node 20: the same
// socket-RPC dialect as nexmo-client 4.1.0 on /rtc, but socket.io-client's defaults, so every session starts on
// Engine.IO 3 long-polling and upgrades to a websocket (reference §1.1, §1.9).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { tokenGenerate } from '@vonage/jwt';
import { apiHost, applicationId, privateKey, createUser } from './helpers.mjs';
import { memory } from './storage.mjs';

// The shims of reference §1.9: the lib/ sources read `localStorage` (only to keep the token for a re-login after a
// reconnect, which these clients never do: reconnection is off) and `window.performance`, and need `cache: true`.
const ConversationClient = createRequire(import.meta.url)('nexmo-conversation/lib/sdk');
// Only once the SDK is loaded: engine.io-client picks Node's `ws` for its websocket transport only when it finds
// no `window` as it loads; with one, it finds no WebSocket in Node 20 and every upgrade probe fails.
globalThis.window = { performance, navigator: { userAgent: 'node' } };

// Resolves with the transports the client's Engine.IO socket used: where it started and where it upgraded to.
function transports(client) {
  const engine = client.connection.io.engine;
  const first = engine.transport.name;
  return new Promise((resolve) => engine.once('upgrade', (transport) => resolve([first, transport.name])));
}

function client() {
  memory.clear(); // each client starts without the previous one's token (they share this process's store)
  const sdk = new ConversationClient({ url: apiHost, cache: true, enable_log_reporter: false, reconnection: false });
  return { sdk, upgraded: transports(sdk) };
}

function userToken(name) {
  return tokenGenerate(applicationId, privateKey, { subject: name });
}

function once(emitter, name) {
  return new Promise((resolve) => emitter.once(name, (...args) => resolve(args)));
}

test('nexmo-conversation 0.1.21 logs in over polling, upgrades, and chats', async () => {
  const alice = await createUser('c0121-alice');
  const bob = await createUser('c0121-bob');
  const a = client();
  const b = client();
  try {
    const aliceApp = await a.sdk.login(userToken(alice.name));
    assert.equal(aliceApp.me.id, alice.id);
    const bobApp = await b.sdk.login(userToken(bob.name));
    assert.equal(bobApp.me.name, bob.name);
    assert.deepEqual(await a.upgraded, ['polling', 'websocket']);
    assert.deepEqual(await b.upgraded, ['polling', 'websocket']);

    const conversation = await aliceApp.newConversation({ display_name: 'preview chat' });
    await conversation.join();
    assert.match(conversation.me.id, /^MEM-/);
    assert.equal(conversation.me.state, 'JOINED');

    const invited = once(bobApp, 'member:invited');
    await conversation.invite({ user_name: bob.name });
    const [, invitation] = await invited;
    assert.equal(invitation.cid, conversation.id);
    const bobsView = bobApp.conversations[conversation.id];
    assert.equal(bobsView.me.state, 'INVITED');
    await bobsView.join(); // accepts: sends its member_id
    assert.equal(bobsView.me.state, 'JOINED');

    const typing = once(conversation, 'text:typing:on');
    await bobsView.startTyping();
    assert.equal((await typing)[1].from, bobsView.me.id);

    const received = once(bobsView, 'text');
    const sent = await conversation.sendText('hello from the preview');
    const [, text] = await received;
    assert.equal(text.body.text, 'hello from the preview');
    assert.equal(text.id, sent.id);
    assert.equal(Number.isInteger(text.id), true);

    // Bob's client sent text:delivered by itself; Alice's copy of the text collects both receipts
    const seen = once(conversation, 'text:seen');
    await text.seen();
    const [seer, seenText] = await seen;
    assert.equal(seer.id, bobsView.me.id);
    assert.equal(seenText.id, sent.id);
    assert.deepEqual(Object.keys(seenText.state.seen_by), [bobsView.me.id]);
    assert.deepEqual(Object.keys(seenText.state.delivered_to), [bobsView.me.id]);

    // the history as the server lists it: the join, the invitation, the acceptance and the text, by integer id
    const history = await bobsView.getEvents();
    const types = [...history.values()].map((event) => event.type);
    assert.deepEqual(types, ['member:joined', 'member:invited', 'member:joined', 'text']);
    assert.equal(history.get(sent.id).body.text, 'hello from the preview');
  } finally {
    a.sdk.disconnect();
    b.sdk.disconnect();
  }
});
