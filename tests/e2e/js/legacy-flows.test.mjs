// nexmo-client 4.1.0 (the /rtc socket-RPC dialect), unmodified, under Node 20: the flows beyond the basic chat —
// invite -> decline, kick, history ranges (the cache's start_id/end_id), receipts' state maps from the server,
// token update, conversation delete, and a reconnect that catches up on what it missed exactly once, in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { once } from 'node:events';
import { tokenGenerate } from '@vonage/jwt';
import { apiHost, applicationId, privateKey, createUser } from './helpers.mjs';
import { memory } from './storage.mjs';

// One localStorage per process (reference §9): the client that reconnects must be the last one that logged in,
// because it logs in again with the token it finds there.
const ConversationClient = createRequire(import.meta.url)('nexmo-client');

function client(socketIo) {
  const sdk = new ConversationClient({ url: apiHost, cache: false, sync: 'none',
    ...(socketIo ? { socket_io: socketIo } : {}) });
  // The client refuses to store a second user's token ("error:user:inconsistent-user", as an unhandled
  // rejection): forget the previous user before each login, as one browser tab per user would.
  const login = sdk.login.bind(sdk);
  sdk.login = (jwt) => {
    memory.clear();
    return login(jwt);
  };
  return sdk;
}

const token = (name) => tokenGenerate(applicationId, privateKey, { subject: name });
const nextEvent = (emitter, name) => new Promise((resolve) => emitter.once(name, (member, event) => resolve(event)));

async function pair(label) {
  const alice = await createUser(`${label}-alice`);
  const bob = await createUser(`${label}-bob`);
  const a = client();
  const b = client();
  const aliceApp = await a.login(token(alice.name));
  const bobApp = await b.login(token(bob.name));
  const conversation = await aliceApp.newConversation({ display_name: label });
  await conversation.join();
  return { alice, bob, a, b, aliceApp, bobApp, conversation };
}

test('nexmo-client 4.1.0: invite -> decline, then kick', async () => {
  const { bob, a, b, bobApp, conversation } = await pair('decline');
  try {
    const invited = nextEvent(bobApp, 'member:invited');
    await conversation.invite({ user_name: bob.name });
    await invited;
    const bobsView = await bobApp.getConversation(conversation.id);
    assert.equal(bobsView.me.state, 'INVITED');
    const declined = nextEvent(conversation, 'member:left');
    await bobsView.leave(); // an invitee leaving declines
    const left = await declined;
    assert.equal(left.from, bobsView.me.id);
    assert.equal(conversation.members.get(bobsView.me.id).state, 'LEFT');

    // invited again (a new member), accepted, then kicked by Alice
    const reinvited = nextEvent(bobApp, 'member:invited');
    await conversation.invite({ user_name: bob.name });
    await reinvited;
    const again = await bobApp.getConversation(conversation.id);
    await again.join();
    const kickedSeenByBob = nextEvent(again, 'member:left');
    const bobMember = conversation.members.get(again.me.id) || (await waitForMember(conversation, again.me.id));
    await bobMember.kick();
    assert.equal((await kickedSeenByBob).from, again.me.id); // the kicked member, not the kicker
    assert.equal(conversation.members.get(conversation.me.id).state, 'JOINED');
    // a kicked member can no longer text
    await assert.rejects(again.sendText('still here?'), (error) => {
      assert.equal(error.type, 'event:error:not-joined');
      return true;
    });
  } finally {
    a.disconnect();
    b.disconnect();
  }
});

async function waitForMember(conversation, memberId) {
  for (let i = 0; i < 50 && !conversation.members.get(memberId); i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return conversation.members.get(memberId);
}

test('nexmo-client 4.1.0: history ranges carry the server receipt maps; updateToken; the creator deletes', async () => {
  const { bob, a, b, aliceApp, bobApp, conversation } = await pair('history');
  try {
    await conversation.join({ user_name: bob.name }); // a joined member adds Bob straight in
    const bobsView = await bobApp.getConversation(conversation.id);
    const sent = [];
    for (let i = 0; i < 5; i += 1) {
      sent.push((await conversation.sendText(`line ${i}`)).id);
    }
    const seen = nextEvent(conversation, 'text:seen');
    await waitFor(() => bobsView.events.has(sent[1]));
    await bobsView.events.get(sent[1]).seen();
    await seen;

    // a fresh client of Alice's (the cache's view) asks for a range and gets the server's maps
    const fresh = client();
    try {
      const app = await fresh.login(token((await aliceApp.getUser()).name));
      const view = await app.getConversation(conversation.id);
      const events = await view.getEvents({ start_id: sent[1], end_id: sent[3] });
      assert.deepEqual([...events.keys()].filter((id) => id >= sent[1] && id <= sent[3]), [sent[1], sent[2], sent[3]]);
      assert.equal(events.has(sent[4]), false);
      assert.deepEqual(Object.keys(events.get(sent[1]).state.seen_by), [bobsView.me.id]);
      assert.deepEqual(Object.keys(events.get(sent[2]).state.seen_by), []);
      await app.updateToken(token(app.me.name));
    } finally {
      fresh.disconnect();
    }

    // Bob (not the creator) may not delete the conversation; Alice may
    await assert.rejects(bobsView.del(), (error) => error.type === 'conversation:error:permission-denied');
    await conversation.del();
    await assert.rejects(aliceApp.getConversation(conversation.id),
      (error) => error.type === 'conversation:error:not-found');
  } finally {
    a.disconnect();
    b.disconnect();
  }
});

test('nexmo-client 4.1.0: a reconnecting client gets what it missed, once and in order', async () => {
  const alice = await createUser('reconnect-alice');
  const bob = await createUser('reconnect-bob');
  const a = client();
  // Bob reconnects by himself after a dropped connection (all socket_io keys, reference §1.1)
  const b = client({ transports: ['websocket'], reconnection: true, reconnectionAttempts: 5,
    reconnectionDelay: 300, randomizationFactor: 0, forceNew: true, autoConnect: true });
  try {
    const aliceApp = await a.login(token(alice.name));
    const conversation = await aliceApp.newConversation({ display_name: 'reconnect' });
    await conversation.join();
    await conversation.join({ user_name: bob.name });
    const bobApp = await b.login(token(bob.name)); // last login: the token the reconnect will use
    const bobsView = await bobApp.getConversation(conversation.id);
    const live = [];
    bobsView.on('text', (sender, text) => live.push(text.id));
    const before = await conversation.sendText('before');
    await waitFor(() => live.includes(before.id));

    // the connection drops; Alice goes on texting while Bob is away
    const dropped = once(b, 'disconnect');
    b.connection.io.engine.close();
    await dropped;
    const missed = [];
    for (let i = 0; i < 4; i += 1) {
      missed.push((await conversation.sendText(`while away ${i}`)).id);
    }
    await once(b, 'reconnect');
    await waitFor(() => b.application && b.application.me && b.connection.connected);
    // the app catches up from its last id: every missed text, once, in order, nothing else
    const lastSeen = Math.max(...live);
    const caughtUp = await bobsView.getEvents({ start_id: lastSeen + 1 });
    const texts = [...caughtUp.values()].filter((e) => e.type === 'text' && e.id > lastSeen).map((e) => e.id);
    assert.deepEqual(texts, missed);
    // after the re-login live texts flow again, without duplicates of what was caught up
    const after = await conversation.sendText('after');
    await waitFor(() => live.includes(after.id));
    assert.equal(new Set(live).size, live.length);
  } finally {
    a.disconnect();
    b.disconnect();
  }
});

async function waitFor(condition) {
  for (let i = 0; i < 250; i += 1) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail('condition not reached within 5 s');
}
