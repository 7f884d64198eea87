// nexmo-client 4.1.0 (the In-App Messaging socket-RPC dialect on /rtc, Engine.IO 3), unmodified, under Node 20.
// Covered so far: login and its refusals, listing conversations, create/join/invite/accept, text, typing,
// delivered and seen, delete, leave. The rest of the dialect is issue 4.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tokenGenerate } from '@vonage/jwt';
import { applicationId, privateKey, createUser, createConversation, join, invite } from './helpers.mjs';
import { legacyClient as client, userToken } from './legacy-client.mjs';

test('nexmo-client 4.1.0 logs in over /rtc and lists its conversations', async () => {
  const user = await createUser('legacy');
  const joined = await createConversation('legacy-joined');
  const invitedTo = await createConversation('legacy-invited');
  await join(joined.id, user.name);
  await invite(invitedTo.id, user.name);

  const sdk = client();
  try {
    const application = await sdk.login(userToken(user.name));
    assert.equal(application.me.id, user.id);
    assert.equal(application.me.name, user.name);
    const listed = await application.getConversations();
    assert.deepEqual(Object.keys(listed).sort(), [joined.id, invitedTo.id].sort());
    assert.equal(listed[joined.id].name, joined.name);
  } finally {
    sdk.disconnect();
  }
});

test('nexmo-client 4.1.0 login refusals carry the session error names', async () => {
  const user = await createUser('legacy-refused');
  const cases = [
    ['garbage', 'session:error:invalid-token'],
    [tokenGenerate(applicationId, privateKey), 'session:error:invalid-token'], // admin token: no user
    // issued 25 h ago: past the 24 h lifetime cap whatever its exp says
    [userToken(user.name, { issued_at: Math.floor(Date.now() / 1000) - 25 * 3600 }), 'session:error:expired-token'],
  ];
  for (const [token, expected] of cases) {
    const sdk = client();
    try {
      await assert.rejects(sdk.login(token), (error) => {
        assert.equal(error.type, expected);
        return true;
      });
    } finally {
      sdk.disconnect();
    }
  }
});

test('nexmo-client 4.1.0: create, join, invite, accept and text between two users', async () => {
  const alice = await createUser('legacy-alice');
  const bob = await createUser('legacy-bob');
  const a = client();
  const b = client();
  try {
    const aliceApp = await a.login(userToken(alice.name));
    const bobApp = await b.login(userToken(bob.name));
    const invited = new Promise((resolve) => bobApp.on('member:invited', (member, event) => resolve(event)));

    const conversation = await aliceApp.newConversation({ display_name: 'legacy chat' });
    await conversation.join();
    assert.match(conversation.me.id, /^MEM-/);
    assert.equal(conversation.me.state, 'JOINED');
    await conversation.invite({ user_name: bob.name });

    const invitation = await invited;
    assert.equal(invitation.cid, conversation.id);
    // (the client raises the application-level member:invited only when body.user.user_id is its own user)
    const bobsView = await bobApp.getConversation(conversation.id); // an invited user may read it
    assert.equal(bobsView.me.state, 'INVITED');
    await bobsView.join(); // accepts the invitation: sends its member_id
    assert.equal(bobsView.me.state, 'JOINED');

    const received = new Promise((resolve) => bobsView.on('text', (sender, text) => resolve(text)));
    await conversation.sendText('hello bob');
    const text = await received;
    assert.equal(text.body.text, 'hello bob');
    assert.equal(Number.isInteger(text.id), true); // integer ids: the client keys its events by them
    assert.equal(text.from, conversation.me.id);

    // typing is pushed (and never stored); Bob's client sent text:delivered by itself; seen follows
    const typing = new Promise((resolve) => conversation.on('text:typing:on', (member, event) => resolve(event)));
    await bobsView.startTyping();
    assert.equal((await typing).from, bobsView.me.id);
    const seen = new Promise((resolve) => conversation.on('text:seen', (member, event) => resolve(event)));
    await text.seen();
    await seen;
    const state = conversation.events.get(text.id).state;
    assert.deepEqual(Object.keys(state.seen_by), [bobsView.me.id]);
    assert.deepEqual(Object.keys(state.delivered_to), [bobsView.me.id]);

    // Alice deletes her text: Bob's copy is blanked; then Bob leaves and Alice sees him LEFT
    const deleted = new Promise((resolve) => bobsView.on('event:delete', (member, event) => resolve(event)));
    await conversation.events.get(text.id).del();
    await deleted;
    assert.equal(bobsView.events.get(text.id).body.text, '');
    const bobsMemberId = bobsView.me.id;
    const left = new Promise((resolve) => conversation.on('member:left', (member, event) => resolve(event)));
    await bobsView.leave();
    assert.equal((await left).from, bobsMemberId);
    assert.equal(conversation.members.get(bobsMemberId).state, 'LEFT');
  } finally {
    a.disconnect();
    b.disconnect();
  }
});
