// @vonage/client-sdk 2.3.1, unmodified, under Node 20: the `/v2/rtc` socket (Engine.IO 4, token in the
// handshake) and the REST calls it makes under /v0.3 and /v0.2. The last test puts it in one conversation with
// nexmo-client 4.1.0 (the In-App Messaging dialect on /rtc): texts and receipts cross both ways.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VonageClient } from '@vonage/client-sdk';
import { tokenGenerate } from '@vonage/jwt';
import { apiHost, applicationId, privateKey, createUser, unique } from './helpers.mjs';
import { legacyClient, userToken } from './legacy-client.mjs';

const TEST = { timeout: 60_000 }; // a hang fails its own test instead of the whole run

function client() {
  return new VonageClient({ apiUrl: apiHost, websocketUrl: apiHost, websocketPath: '/v2/rtc',
    loggingLevel: process.env.PARLEY_SDK_LOG || 'Assert', rtcStatsTelemetry: false });
}

// Every conversationEvent a client gets, and a way to wait for one.
function recorder(sdk) {
  const seen = [];
  const waiting = [];
  sdk.on('conversationEvent', (event) => {
    seen.push(event);
    for (const waiter of [...waiting]) {
      if (waiter.matches(event)) {
        waiting.splice(waiting.indexOf(waiter), 1);
        waiter.resolve(event);
      }
    }
  });
  return {
    seen,
    next(matches) {
      const found = seen.find(matches);
      return found ? Promise.resolve(found) : new Promise((resolve) => waiting.push({ matches, resolve }));
    },
  };
}

const ofKind = (kind, conversationId, extra = () => true) => (event) =>
  event.kind === kind && event.conversationId === conversationId && extra(event);

async function signedIn(label) {
  const user = await createUser(label);
  const sdk = client();
  const events = recorder(sdk);
  const sessionId = await sdk.createSession(userToken(user.name));
  return { user, sdk, events, sessionId };
}

async function allPages(sdk, conversationId, parameters) {
  const ids = [];
  let cursor;
  for (let pages = 0; pages < 50; pages += 1) {
    const page = await sdk.getConversationEvents(conversationId, { ...parameters, cursor });
    ids.push(...page.events.map((event) => event.id));
    cursor = page.nextCursor;
    if (!cursor) return ids;
  }
  return assert.fail('more than 50 pages (cursor loop?)');
}

test('@vonage/client-sdk 2.3.1 opens a session on /v2/rtc, and bad tokens are refused', TEST, async () => {
  const user = await createUser('modern-session');
  const sdk = client();
  try {
    const sessionId = await sdk.createSession(userToken(user.name));
    assert.match(sessionId, /^SES-/);
    await sdk.refreshSession(userToken(user.name, { ttl: 3600 })); // PUT /v0.2/sessions/{id} with the new token
    await assert.rejects(sdk.refreshSession(userToken(`${user.name}-nobody`)), (error) => {
      assert.equal(error.code, 'user:error:not-found'); // a token for no user extends nothing
      return true;
    });
    await sdk.deleteSession();
  } finally {
    sdk.disconnect?.();
  }
  const cases = [
    ['garbage', 'session:error:invalid-token'],
    [tokenGenerate(applicationId, privateKey), 'session:error:invalid-token'], // admin token: no user
    [userToken(user.name, { issued_at: Math.floor(Date.now() / 1000) - 25 * 3600 }), 'session:error:expired-token'],
  ];
  for (const [token, code] of cases) {
    const refused = client();
    await assert.rejects(refused.createSession(token), (error) => {
      assert.equal(error.code, code);
      return true;
    });
  }
});

test('@vonage/client-sdk 2.3.1: create, join, invite, accept, messages, receipts, ephemeral, custom, history, '
  + 'delete, leave between two users', TEST, async () => {
  const alice = await signedIn('modern-alice');
  const bob = await signedIn('modern-bob');
  try {
    const cid = await alice.sdk.createConversation({ name: unique('modern'), displayName: 'modern chat' });
    assert.match(cid, /^CON-/);
    const aliceMember = await alice.sdk.joinConversation(cid);
    assert.match(aliceMember, /^MEM-/);

    // invite -> the invitee's client hears of it, and accepts by joining
    await alice.sdk.inviteToConversation(cid, bob.user.name);
    const invited = await bob.events.next(ofKind('member:invited', cid));
    assert.equal(invited.body.user.name, bob.user.name);
    const bobMember = await bob.sdk.joinConversation(cid);
    assert.equal(bobMember, invited.body.memberId); // the invitation accepted, not a second membership
    const joined = await alice.events.next(ofKind('member:joined', cid, (e) => e.body.memberId === bobMember));
    assert.equal(joined.body.user.id, bob.user.id);

    // a text message reaches Bob; his client sends message:delivered by itself; seen follows
    await alice.sdk.sendMessageTextEvent(cid, 'hello bob');
    const message = await bob.events.next(ofKind('message:text', cid));
    assert.equal(message.body.text, 'hello bob');
    assert.equal(Number.isInteger(message.id), true);
    assert.equal(message.from.memberId, aliceMember);
    assert.equal(message.from.user.name, alice.user.name);
    const delivered = await alice.events.next(ofKind('message:delivered', cid,
      (e) => e.from.memberId === bobMember));
    assert.equal(delivered.body.eventId, message.id);
    await bob.sdk.sendMessageSeenEvent(message.id, cid);
    const seen = await alice.events.next(ofKind('message:seen', cid, (e) => e.from.memberId === bobMember));
    assert.equal(seen.body.eventId, message.id);
    // history carries the receipts on the message itself (the SDK's memberStatuses)
    const listedMessage = (await alice.sdk.getConversationEvents(cid, { order: 'asc', pageSize: 100 })).events
      .find((event) => event.id === message.id);
    assert.equal(listedMessage.memberStatuses[bobMember].current, 'seen');
    assert.equal(listedMessage.memberStatuses[bobMember].delivered, delivered.timestamp);

    // ephemeral and custom events
    await bob.sdk.sendEphemeralEvent(cid, { typing: true });
    const ephemeral = await alice.events.next(ofKind('ephemeral', cid));
    assert.deepEqual(ephemeral.body, { typing: true });
    assert.equal(ephemeral.from.memberId, bobMember);
    await bob.sdk.sendCustomEvent(cid, 'custom:reaction', { emoji: 'thumbs-up' });
    const custom = await alice.events.next(ofKind('custom', cid));
    assert.equal(custom.eventType, 'custom:reaction');
    assert.deepEqual(custom.body, { emoji: 'thumbs-up' });

    // history: receipts are left out (the SDK cannot parse them there); pages follow the cursor both ways
    for (const text of ['one', 'two', 'three']) await bob.sdk.sendMessageTextEvent(cid, text);
    const asc = await allPages(bob.sdk, cid, { order: 'asc', pageSize: 2 });
    const desc = await allPages(bob.sdk, cid, { order: 'desc', pageSize: 3 });
    assert.deepEqual(desc, [...asc].reverse());
    const all = await bob.sdk.getConversationEvents(cid, { order: 'asc', pageSize: 100 });
    const kinds = all.events.map((event) => event.kind);
    assert.equal(kinds.filter((kind) => kind.startsWith('message:') && kind !== 'message:text').length, 0);
    assert.deepEqual(all.events.filter((e) => e.kind === 'message:text').map((e) => e.body.text),
      ['hello bob', 'one', 'two', 'three']);
    assert.deepEqual(asc, all.events.map((event) => event.id));
    assert.equal(new Set(asc).size, asc.length);

    const listed = await bob.sdk.getConversations({ order: 'asc', pageSize: 100 });
    const mine = listed.conversations.find((conversation) => conversation.id === cid);
    assert.equal(mine.memberState, 'JOINED');
    assert.equal(mine.memberId, bobMember);
    assert.equal(mine.displayName, 'modern chat');

    // Alice deletes her message: Bob hears of it and it leaves the history; then Bob leaves
    await alice.sdk.deleteEvent(message.id, cid);
    const deletion = await bob.events.next(ofKind('event:delete', cid));
    assert.equal(deletion.body.eventId, message.id);
    const after = await bob.sdk.getConversationEvents(cid, { order: 'asc', pageSize: 100 });
    assert.equal(after.events.some((event) => event.id === message.id), false);
    await bob.sdk.leaveConversation(cid);
    const left = await alice.events.next(ofKind('member:left', cid, (e) => e.body.memberId === bobMember));
    assert.equal(left.body.user.id, bob.user.id);
  } finally {
    await alice.sdk.deleteSession().catch(() => {});
    await bob.sdk.deleteSession().catch(() => {});
  }
});

test('@vonage/client-sdk 2.3.1 reads and updates conversations, members and users', TEST, async () => {
  const alice = await signedIn('reads-alice');
  const bob = await createUser('reads-bob');
  try {
    const cid = await alice.sdk.createConversation({ name: unique('reads'), displayName: 'before' });
    const mine = await alice.sdk.joinConversation(cid);
    const invitee = await alice.sdk.inviteToConversation(cid, bob.name);
    await alice.sdk.updateConversation(cid, { displayName: 'after' }); // PATCH /v0.3/conversations/{id}
    assert.equal((await alice.sdk.getConversation(cid)).displayName, 'after');
    const name = (await alice.sdk.getConversation(cid)).name;
    assert.equal((await alice.sdk.getConversation(name)).id, cid); // by name too
    const members = await alice.sdk.getConversationMembers(cid, { order: 'asc', pageSize: 10 });
    assert.deepEqual(members.members.map((m) => [m.id, m.state]), [[mine, 'JOINED'], [invitee, 'INVITED']]);
    assert.equal((await alice.sdk.getConversationMember(cid, invitee)).user.name, bob.name);
    assert.equal((await alice.sdk.getUser(bob.id)).name, bob.name);
    assert.equal((await alice.sdk.getUser(bob.name)).id, bob.id); // by name too
    await alice.sdk.sendMessageImageEvent(cid, new URL('https://example.com/cat.jpg'));
    const image = await alice.events.next(ofKind('message:image', cid));
    assert.equal(image.body.imageUrl, 'https://example.com/cat.jpg');
    await alice.sdk.deleteConversation(cid); // its creator may
    await assert.rejects(alice.sdk.getConversation(cid), (error) => {
      assert.equal(error.code, 'conversation:error:not-found');
      return true;
    });
  } finally {
    await alice.sdk.deleteSession().catch(() => {});
  }
});

test('@vonage/client-sdk 2.3.1 resumes its session by id and its history has everything once, in order',
  TEST, async () => {
    const alice = await signedIn('resume-alice');
    const bob = await signedIn('resume-bob');
    const again = client();
    const resumed = recorder(again);
    try {
      const cid = await alice.sdk.createConversation({ name: unique('resume'), displayName: 'resume' });
      await alice.sdk.joinConversation(cid);
      await alice.sdk.inviteToConversation(cid, bob.user.name);
      await bob.events.next(ofKind('member:invited', cid));
      await bob.sdk.joinConversation(cid);
      await alice.sdk.sendMessageTextEvent(cid, 'before');
      await bob.events.next(ofKind('message:text', cid));
      // a second client takes the session over by its id (as the SDK does when it reconnects)
      assert.equal(await again.createSession(userToken(bob.user.name), bob.sessionId), bob.sessionId);
      await alice.sdk.sendMessageTextEvent(cid, 'after');
      const after = await resumed.next(ofKind('message:text', cid, (e) => e.body.text === 'after'));
      const history = await again.getConversationEvents(cid, { order: 'asc', pageSize: 100 });
      const texts = history.events.filter((e) => e.kind === 'message:text');
      assert.deepEqual(texts.map((e) => e.body.text), ['before', 'after']);
      assert.equal(texts[1].id, after.id);
    } finally {
      await again.deleteSession().catch(() => {});
      await alice.sdk.deleteSession().catch(() => {});
    }
  });

test('nexmo-client 4.1.0 and @vonage/client-sdk 2.3.1 in one conversation: texts and receipts cross both ways',
  TEST, async () => {
    const modern = await signedIn('cross-modern');
    const legacyUser = await createUser('cross-legacy');
    const legacy = legacyClient();
    try {
      const legacyApp = await legacy.login(userToken(legacyUser.name));
      const cid = await modern.sdk.createConversation({ name: unique('cross'), displayName: 'cross' });
      const modernMember = await modern.sdk.joinConversation(cid);
      const invited = new Promise((resolve) => legacyApp.on('member:invited', (member, event) => resolve(event)));
      await modern.sdk.inviteToConversation(cid, legacyUser.name);
      await invited;
      const conversation = await legacyApp.getConversation(cid);
      await conversation.join();
      const legacyMember = conversation.me.id;

      // modern -> legacy: a text message arrives as a `text`; the legacy client's delivered and seen receipts
      // arrive as message:delivered / message:seen
      const text = new Promise((resolve) => conversation.on('text', (sender, event) => resolve(event)));
      await modern.sdk.sendMessageTextEvent(cid, 'from modern');
      const received = await text;
      assert.equal(received.body.text, 'from modern');
      assert.equal(received.from, modernMember);
      const delivered = await modern.events.next(ofKind('message:delivered', cid,
        (e) => e.from.memberId === legacyMember));
      assert.equal(delivered.body.eventId, received.id);
      await received.seen();
      const seen = await modern.events.next(ofKind('message:seen', cid, (e) => e.from.memberId === legacyMember));
      assert.equal(seen.body.eventId, received.id);

      // legacy -> modern: a `text` arrives as a text message; the modern receipts update the legacy sender's
      // copy (text:delivered / text:seen)
      const legacySeen = new Promise((resolve) => conversation.on('text:seen', (member, event) => resolve(event)));
      const sent = await conversation.sendText('from legacy');
      const message = await modern.events.next(ofKind('message:text', cid, (e) => e.from.memberId === legacyMember));
      assert.equal(message.body.text, 'from legacy');
      assert.equal(message.id, sent.id);
      await modern.sdk.sendMessageSeenEvent(message.id, cid);
      await legacySeen;
      const state = conversation.events.get(sent.id).state;
      assert.deepEqual(Object.keys(state.seen_by), [modernMember]);
      assert.deepEqual(Object.keys(state.delivered_to), [modernMember]);

      // typing: the legacy indicator is an ephemeral {typing} for the modern client, and back
      await conversation.startTyping();
      const typing = await modern.events.next(ofKind('ephemeral', cid, (e) => e.from.memberId === legacyMember));
      assert.deepEqual(typing.body, { typing: true });
      const typingOff = new Promise((resolve) => conversation.on('text:typing:off', (member, event) => resolve(event)));
      await modern.sdk.sendEphemeralEvent(cid, { typing: false });
      assert.equal((await typingOff).from, modernMember);

      // both histories show both texts under their own names, in the same order with the same ids
      const modernHistory = (await modern.sdk.getConversationEvents(cid, { order: 'asc', pageSize: 100 })).events
        .filter((e) => e.kind === 'message:text').map((e) => [e.id, e.body.text]);
      const legacyHistory = [...(await conversation.getEvents()).values()]
        .filter((e) => e.type === 'text').map((e) => [e.id, e.body.text]);
      assert.deepEqual(modernHistory, [[received.id, 'from modern'], [sent.id, 'from legacy']]);
      assert.deepEqual(legacyHistory, modernHistory);
    } finally {
      legacy.disconnect();
      await modern.sdk.deleteSession().catch(() => {});
    }
  });
