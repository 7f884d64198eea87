// nexmo-client 9.5.1 (the hybrid dialect: token in the /v2/rtc handshake, Engine.IO 4, and REST on /beta, /beta2
// and /v0.3), unmodified, under Node 20 with an XMLHttpRequest stand-in (reference §2, §6 sketch B).
// Installed under the npm alias `nexmo-client-9` (the legacy suite has nexmo-client 4.1.0 as `nexmo-client`).
// The last tests put it in one conversation with nexmo-client 8.7.3 (the same REST families, but its session is a
// `session:login` on /rtc), and with nexmo-client 4.1.0 (/rtc) and @vonage/client-sdk 2.3.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { VonageClient } from '@vonage/client-sdk';
import { tokenGenerate } from '@vonage/jwt';
import { apiHost, applicationId, privateKey, createUser, join, ID } from './helpers.mjs';
import { legacyClient, userToken } from './legacy-client.mjs';
import { installXMLHttpRequest, requests } from './xhr.mjs';

installXMLHttpRequest();
const NexmoClient = createRequire(import.meta.url)('nexmo-client-9');
const NexmoClient8 = createRequire(import.meta.url)('nexmo-client-8');

function client() {
  return new NexmoClient({
    url: apiHost, nexmo_api_url: apiHost, ips_url: `${apiHost}/v1/image`,
    log_reporter: { enabled: false }, rtcstats: { remote_collection: false }, socket_io: { reconnection: false },
  });
}

const TEST = { timeout: 60_000 }; // a hang fails its own test instead of the whole run

// The next time `emitter` emits `name` (with arguments that `matches`): its arguments (conversations emit
// (member, event)).
function next(emitter, name, matches = () => true) {
  return new Promise((resolve) => {
    const handler = (...args) => {
      if (!matches(...args)) return;
      emitter.off(name, handler);
      resolve(args);
    };
    emitter.on(name, handler);
  });
}

// The calls made since `mark`, as "METHOD /path" (query left out), to show which REST family served a call.
function callsSince(mark) {
  return requests.slice(mark).map((r) => `${r.method} ${r.path.replace(/(CON|MEM|USR)-[0-9a-f-]+/g, '$1')}`);
}

// Two users with sessions; closes them however the test ends.
async function withTwoUsers(label, body) {
  const alice = await createUser(`${label}-alice`);
  const bob = await createUser(`${label}-bob`);
  const a = client();
  const b = client();
  try {
    const aliceApp = await a.createSession(userToken(alice.name));
    const bobApp = await b.createSession(userToken(bob.name));
    await body({ alice, bob, aliceApp, bobApp });
  } finally {
    a.disconnect();
    b.disconnect();
  }
}

// Alice creates a conversation and joins it, invites Bob; Bob's application hears the invitation.
async function invitedConversation(aliceApp, bobApp, bob, displayName) {
  const conversation = await aliceApp.newConversation({ display_name: displayName });
  await conversation.join();
  const invited = next(bobApp, 'member:invited');
  await conversation.invite({ user_name: bob.name });
  const [, invitation] = await invited;
  const bobsView = bobApp.conversations.get(conversation.id);
  return { conversation, bobsView, invitation };
}

test('nexmo-client 9.5.1 creates a session over /v2/rtc and a conversation over /beta', TEST, async () => {
  await withTwoUsers('nc9-create', async ({ alice, aliceApp }) => {
    assert.equal(aliceApp.me.id, alice.id);
    assert.equal(aliceApp.me.name, alice.name);
    const mark = requests.length;
    const conversation = await aliceApp.newConversation({ name: `${alice.name}-room`, display_name: 'room' });
    assert.deepEqual(callsSince(mark), ['POST /beta/conversations', 'GET /beta/conversations/CON']);
    assert.match(conversation.id, ID.conversation); // from `uuid`
    assert.equal(conversation.name, `${alice.name}-room`);
    assert.equal(conversation.display_name, 'room');
    assert.equal(conversation.me, null);

    const me = await conversation.join();
    assert.match(me.id, ID.member);
    assert.equal(me.user.id, alice.id);
    assert.equal(conversation.me.id, me.id);
    assert.equal(conversation.me.state, 'JOINED');

    const user = await aliceApp.getUser(); // GET /beta/users/{id}
    assert.equal(user.id, alice.id);
    assert.equal(user.name, alice.name);

    // a fresh token for the session (PUT /v0.2/sessions/{id}) is the one later calls carry
    const mark2 = requests.length;
    const fresh = userToken(alice.name, { ttl: 7200 });
    await aliceApp.updateToken(fresh);
    assert.deepEqual(callsSince(mark2), ['PUT /v0.2/sessions/SES-' + aliceApp.session.session_id.slice(4)]);
    assert.equal(aliceApp.session.config.token, fresh);
    const sessions = await aliceApp.getUserSessions(); // GET /v0.3/users/{id}/sessions
    assert.deepEqual([...sessions.items.keys()], [aliceApp.session.session_id]);
  });
});

test('nexmo-client 9.5.1 ends its session with deleteSession()', TEST, async () => {
  const alice = await createUser('nc9-logout');
  const sdk = client();
  const app = await sdk.createSession(userToken(alice.name));
  assert.equal(app.me.id, alice.id);
  const reply = await sdk.deleteSession(); // session:logout over the socket
  assert.equal(reply.type, 'session:logged-out');
  assert.equal(sdk.application, undefined);
});

test('nexmo-client 9.5.1: invite, accept, text, typing, delivered and seen between two users', TEST, async () => {
  await withTwoUsers('nc9-chat', async ({ alice, bob, aliceApp, bobApp }) => {
    const { conversation, bobsView, invitation } = await invitedConversation(aliceApp, bobApp, bob, 'nc9 chat');
    assert.equal(invitation.cid, conversation.id);
    assert.equal(Number.isInteger(invitation.id), true);
    assert.equal(bobsView.me.state, 'INVITED');

    const joined = next(conversation, 'member:joined', (member, event) => event.body.user.id === bob.id);
    await bobsView.join(); // accepts the invitation
    assert.equal(bobsView.me.state, 'JOINED');
    const [joinedMember, joinedEvent] = await joined;
    assert.equal(joinedEvent.body.user.id, bob.id);
    assert.equal(joinedMember.memberId, bobsView.me.id);

    // Alice's text reaches Bob over the socket with an integer id; Bob's client sends text:delivered by itself
    const received = next(bobsView, 'text');
    const delivered = next(conversation, 'text:delivered');
    const sent = await conversation.sendText('hello bob');
    assert.equal(Number.isInteger(sent.id), true);
    const [sender, text] = await received;
    assert.equal(text.id, sent.id);
    assert.equal(text.body.text, 'hello bob');
    assert.equal(text.from, conversation.me.id);
    assert.equal(sender.userId, alice.id);
    await delivered;

    const typing = next(conversation, 'text:typing:on');
    await bobsView.startTyping();
    const [typist] = await typing;
    assert.equal(typist.memberId, bobsView.me.id);

    const seen = next(conversation, 'text:seen');
    await text.seen();
    const [, seenText] = await seen;
    assert.equal(seenText.id, sent.id);
    // both receipts are recorded on Alice's own copy of her text
    const state = conversation.events.get(sent.id).state;
    assert.deepEqual(Object.keys(state.delivered_to), [bobsView.me.id]);
    assert.deepEqual(Object.keys(state.seen_by), [bobsView.me.id]);

    // a text `message` (sendMessage) reaches Bob as the In-App Messaging `text` it is
    const asText = next(bobsView, 'text');
    const message = await conversation.sendMessage({ message_type: 'text', text: 'as a message' });
    const [, messageText] = await asText;
    assert.equal(messageText.id, message.id);
    assert.equal(messageText.body.text, 'as a message');

    // custom and ephemeral events reach the other side under their names
    const custom = next(bobsView, 'poll');
    await conversation.sendCustomEvent({ type: 'poll', body: { question: 'lunch?' } });
    assert.deepEqual((await custom)[1].body, { question: 'lunch?' });
    const ephemeral = next(bobsView, 'ephemeral');
    await conversation.sendEphemeralEvent({ cursor: 3 });
    assert.deepEqual((await ephemeral)[1].body, { cursor: 3 });

    // Alice deletes her text: Bob's copy is blanked
    const deleted = next(bobsView, 'event:delete');
    const mark = requests.length;
    await conversation.deleteEvent(conversation.events.get(sent.id));
    assert.deepEqual(callsSince(mark), ['DELETE /beta2/conversations/CON/events/' + sent.id]);
    await deleted;
    assert.equal(bobsView.events.get(sent.id).body.text, '');
  });
});

test('nexmo-client 9.5.1: an invitation declined with leave()', TEST, async () => {
  await withTwoUsers('nc9-decline', async ({ bob, aliceApp, bobApp }) => {
    const { conversation, bobsView } = await invitedConversation(aliceApp, bobApp, bob, 'declined');
    const bobsMemberId = bobsView.me.id;
    const left = next(conversation, 'member:left');
    const mark = requests.length;
    await bobsView.leave();
    assert.deepEqual(callsSince(mark), ['DELETE /beta/conversations/CON/members/MEM']);
    const [, event] = await left;
    assert.equal(event.body.user.id, bob.id);
    const { items } = await conversation.getMembers();
    assert.equal(items.get(bobsMemberId).state, 'LEFT');
  });
});

test('nexmo-client 9.5.1 fills a gap in its ordering queue from /beta2', TEST, async () => {
  await withTwoUsers('nc9-gap', async ({ bob, aliceApp, bobApp }) => {
    // Bob's queue starts at the invitation; the texts sent before he accepts are not pushed to him (he is not
    // joined yet), so his member:joined arrives after a gap that his client must fetch.
    const { conversation, bobsView, invitation } = await invitedConversation(aliceApp, bobApp, bob, 'gap');
    const first = await conversation.sendText('before you joined');
    const second = await conversation.sendText('this one too');
    const texts = [];
    const bothTexts = new Promise((resolve) => bobsView.on('text', (member, text) => {
      texts.push(text);
      if (texts.length === 2) resolve();
    }));
    const mark = requests.length;
    await bobsView.join();
    await bothTexts;
    assert.deepEqual(texts.map((t) => [t.id, t.body.text]),
      [[first.id, 'before you joined'], [second.id, 'this one too']]);
    const gapFetch = requests.slice(mark).find((r) => r.path.endsWith('/events') && r.query.includes('start_id'));
    assert.ok(gapFetch, `no gap fetch among ${JSON.stringify(requests.slice(mark))}`);
    assert.equal(gapFetch.path, `/beta2/conversations/${conversation.id}/events`);
    assert.equal(new URLSearchParams(gapFetch.query).get('start_id'), String(invitation.id + 1));
  });
});

test('nexmo-client 9.5.1 pages events and conversations from /beta2', TEST, async () => {
  await withTwoUsers('nc9-pages', async ({ alice, aliceApp }) => {
    const conversation = await aliceApp.newConversation({ display_name: 'history' });
    await conversation.join(); // event 1: member:joined
    for (let n = 1; n <= 4; n += 1) await conversation.sendText(`t${n}`); // events 2..5

    const first = await conversation.getEvents({ page_size: 2, order: 'asc' });
    assert.deepEqual([...first.items.keys()], [1, 2]);
    assert.equal(first.items.get(1).type, 'member:joined');
    assert.equal(first.items.get(2).body.text, 't1');
    assert.equal(first.hasNext(), true);
    const second = await first.getNext();
    assert.deepEqual([...second.items.keys()], [3, 4]);
    const third = await second.getNext();
    assert.deepEqual([...third.items.keys()], [5]);
    assert.equal(third.hasNext(), false);
    const back = await third.getPrev();
    assert.deepEqual([...back.items.keys()], [3, 4]);
    const latest = await conversation.getEvents({ page_size: 3, order: 'desc', event_type: 'text' });
    assert.deepEqual([...latest.items.values()].map((e) => e.body.text), ['t4', 't3', 't2']);

    const others = [];
    for (const name of ['p1', 'p2']) {
      const more = await aliceApp.newConversation({ display_name: name });
      await more.join();
      others.push(more.id);
    }
    const mark = requests.length;
    const page = await aliceApp.getConversations({ page_size: 2 });
    assert.deepEqual(callsSince(mark), [`GET /beta2/users/USR/conversations`]);
    assert.deepEqual([...page.items.keys()], [conversation.id, others[0]]);
    assert.equal(page.items.get(conversation.id).me.state, 'JOINED');
    assert.equal(page.items.get(conversation.id).me.user.id, alice.id);
    const rest = await page.getNext();
    assert.deepEqual([...rest.items.keys()], [others[1]]);
    assert.equal(rest.hasNext(), false);
  });
});

test('nexmo-client 9.5.1: a joined member kicks another, then leaves', TEST, async () => {
  await withTwoUsers('nc9-kick', async ({ bob, aliceApp, bobApp }) => {
    const { conversation, bobsView } = await invitedConversation(aliceApp, bobApp, bob, 'kick');
    await bobsView.join();
    const bobsMemberId = bobsView.me.id;
    const { items } = await conversation.getMembers({ page_size: 10 });
    assert.deepEqual([...items.values()].map((m) => m.state).sort(), ['JOINED', 'JOINED']);
    const kicked = next(bobsView, 'member:left');
    await items.get(bobsMemberId).kick({ reason_text: 'bye' });
    const [, event] = await kicked;
    assert.equal(event.body.user.id, bob.id);
    assert.deepEqual(event.body.reason, { text: 'bye' });
    assert.equal(bobsView.me.state, 'LEFT'); // Bob's client applied the event to his own member
    // Bob may no longer send
    await assert.rejects(bobsView.sendText('still here?'), (error) => {
      assert.equal(error.type, 'event:error:not-joined');
      return true;
    });
    await conversation.leave();
    const after = await conversation.getMembers();
    assert.deepEqual([...after.items.values()].map((m) => m.state), ['LEFT', 'LEFT']);
  });
});

test('nexmo-client 9.5.1 reconnects by itself and gets what was sent while its socket was down', TEST, async () => {
  const alice = await createUser('nc9-away-alice');
  const bob = await createUser('nc9-away-bob');
  const a = client();
  // reconnecting at once, so the test does not wait out the default back-off
  const b = new NexmoClient({
    url: apiHost, nexmo_api_url: apiHost, log_reporter: { enabled: false }, rtcstats: { remote_collection: false },
    socket_io: { reconnection: true, reconnectionDelay: 10, reconnectionDelayMax: 10, randomizationFactor: 0 },
  });
  try {
    const aliceApp = await a.createSession(userToken(alice.name));
    const bobApp = await b.createSession(userToken(bob.name));
    const conversation = await aliceApp.newConversation({ display_name: 'away' });
    await conversation.join();
    await join(conversation.id, bob.name);
    const bobsView = await bobApp.getConversation(conversation.id);
    const sessionId = b.session_id;

    const down = next(b, 'disconnect');
    const back = next(b, 'reconnect');
    b.connection.io.engine.close(); // the transport drops, as on a network change
    await down;
    const received = next(bobsView, 'text');
    const sent = await conversation.sendText('while you were away');
    await back;
    const [, text] = await received;
    assert.deepEqual([text.id, text.body.text], [sent.id, 'while you were away']);
    assert.equal(b.session_id, sessionId); // the same session, resumed
  } finally {
    a.disconnect();
    b.disconnect();
  }
});

test('nexmo-client 9.5.1 refuses bad tokens', TEST, async () => {
  const user = await createUser('nc9-refused');
  const cases = [
    ['garbage', 'system:error:invalid-token'],
    [tokenGenerate(applicationId, privateKey), 'system:error:invalid-token'], // admin token: no user
    // issued 25 h ago: past the 24 h lifetime cap whatever its exp says
    [userToken(user.name, { issued_at: Math.floor(Date.now() / 1000) - 25 * 3600 }), 'system:error:expired-token'],
  ];
  for (const [token, expected] of cases) {
    const sdk = client();
    try {
      await assert.rejects(sdk.createSession(token), (error) => {
        assert.equal(error.name, 'NexmoApiError');
        assert.equal(error.type, expected);
        return true;
      });
    } finally {
      sdk.disconnect();
    }
  }
  await withTwoUsers('nc9-token', async ({ aliceApp }) => {
    // a REST call made with a token that is not valid gets the API's error, whose code becomes `type`
    aliceApp.session.config.token = 'garbage';
    await assert.rejects(aliceApp.getConversations(), (error) => {
      assert.equal(error.name, 'NexmoApiError');
      assert.equal(error.type, 'system:error:invalid-token');
      return true;
    });
    await assert.rejects(aliceApp.newConversation({}), (error) => {
      assert.equal(error.type, 'system:error:invalid-token');
      return true;
    });
  });
});

// The next conversationEvent of a @vonage/client-sdk client that `matches`.
function nextModern(sdk, matches) {
  return new Promise((resolve) => {
    const handler = (event) => {
      if (!matches(event)) return;
      sdk.off('conversationEvent', handler);
      resolve(event);
    };
    sdk.on('conversationEvent', handler);
  });
}

test('nexmo-client 9.5.1, nexmo-client 4.1.0 and @vonage/client-sdk 2.3.1 in one conversation', TEST, async () => {
  const [alice, bob, carol] = await Promise.all(['trio-nc9', 'trio-legacy', 'trio-modern'].map((label) => createUser(label)));
  const a = client();
  const b = legacyClient();
  const c = new VonageClient({ apiUrl: apiHost, websocketUrl: apiHost, websocketPath: '/v2/rtc',
    loggingLevel: 'Assert', rtcStatsTelemetry: false });
  try {
    const aliceApp = await a.createSession(userToken(alice.name));
    const bobApp = await b.login(userToken(bob.name));
    await c.createSession(userToken(carol.name));
    const conversation = await aliceApp.newConversation({ display_name: 'trio' });
    await conversation.join();
    const bobMember = (await join(conversation.id, bob.name)).id;
    const carolMember = (await join(conversation.id, carol.name)).id;
    const bobsView = await bobApp.getConversation(conversation.id);
    const cid = conversation.id;

    // Alice's text reaches the legacy client as a `text` and the modern one as a text message, same id
    const atBob = next(bobsView, 'text');
    const atCarol = nextModern(c, (e) => e.kind === 'message:text' && e.conversationId === cid);
    const sent = await conversation.sendText('hello both');
    const [[, legacyText], modernText] = await Promise.all([atBob, atCarol]);
    assert.deepEqual([legacyText.id, legacyText.body.text], [sent.id, 'hello both']);
    assert.deepEqual([modernText.id, modernText.body.text], [sent.id, 'hello both']);

    // their texts reach Alice as `text`; Carol's seen receipt lands on Alice's own copy
    const fromBob = next(conversation, 'text', (member) => member.memberId === bobMember);
    await bobsView.sendText('legacy here');
    const [bobSender, bobText] = await fromBob;
    assert.deepEqual([bobSender.memberId, bobText.body.text], [bobMember, 'legacy here']);
    const fromCarol = next(conversation, 'text', (member) => member.memberId === carolMember);
    await c.sendMessageTextEvent(cid, 'modern here');
    const [carolSender, carolText] = await fromCarol;
    assert.deepEqual([carolSender.memberId, carolSender.userId, carolText.body.text],
      [carolMember, carol.id, 'modern here']);
    const seen = next(conversation, 'text:seen');
    await c.sendMessageSeenEvent(sent.id, cid);
    const [seer, seenText] = await seen;
    assert.equal(seer.memberId, carolMember);
    assert.equal(seenText.id, sent.id);
    assert.ok(conversation.events.get(sent.id).state.seen_by[carolMember]);

    // typing from either generation is typing to Alice
    const legacyTyping = next(conversation, 'text:typing:on');
    await bobsView.startTyping();
    assert.equal((await legacyTyping)[0].memberId, bobMember);
    const modernTyping = next(conversation, 'text:typing:on');
    await c.sendEphemeralEvent(cid, { typing: true });
    assert.equal((await modernTyping)[0].memberId, carolMember);
  } finally {
    a.disconnect();
    b.disconnect();
    await c.deleteSession().catch(() => {});
  }
});

test('nexmo-client 8.7.3 (session on /rtc) and 9.5.1 (session on /v2/rtc) in one conversation', TEST, async () => {
  const [alice, bob] = await Promise.all(['pair-nc8', 'pair-nc9'].map((label) => createUser(label)));
  const a = new NexmoClient8({
    url: apiHost, nexmo_api_url: apiHost, log_reporter: { enabled: false }, rtcstats: { remote_collection: false },
    socket_io: { reconnection: false },
  });
  const b = client();
  try {
    const aliceApp = await a.login(userToken(alice.name)); // session:login on /rtc
    assert.equal(aliceApp.me.id, alice.id);
    const bobApp = await b.createSession(userToken(bob.name));
    const { conversation, bobsView } = await invitedConversation(aliceApp, bobApp, bob, 'eight and nine');
    await bobsView.join();

    const atBob = next(bobsView, 'text');
    const seen = next(conversation, 'text:seen');
    const sent = await conversation.sendText('from eight');
    const [, text] = await atBob;
    assert.deepEqual([text.id, text.body.text, text.from], [sent.id, 'from eight', conversation.me.id]);
    await text.seen();
    await seen;
    assert.deepEqual(Object.keys(conversation.events.get(sent.id).state.seen_by), [bobsView.me.id]);

    const atAlice = next(conversation, 'text', (member) => member.memberId === bobsView.me.id);
    const reply = await bobsView.sendText('from nine');
    const [, replyText] = await atAlice;
    assert.deepEqual([replyText.id, replyText.body.text], [reply.id, 'from nine']);
    const { items } = await conversation.getEvents({ page_size: 100 });
    assert.deepEqual([...items.values()].filter((e) => e.type === 'text').map((e) => e.id), [sent.id, reply.id]);
  } finally {
    a.disconnect();
    b.disconnect();
  }
});
