// @vonage/conversations (unmodified) against parley: /v1/conversations/{id}/members, /members/me.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import { MemberState } from '@vonage/conversations';

import {
  ID, ISO_MS, assertUniqueIds, collect, conversations, conversationsAs, createConversation, createUser, cursorOf,
  invite, join, rejectsWith,
} from './helpers.mjs';

describe('members', () => {
  let alice;
  let bob;
  let conversation;
  let aliceMember;
  let bobMember;

  before(async () => {
    alice = await createUser('alice', { imageUrl: 'https://example.com/a.png' });
    bob = await createUser('bob');
    conversation = await createConversation('members');
  });

  test('createMember JOINED for a user given by name', async () => {
    aliceMember = await conversations.createMember(conversation.id, {
      state: MemberState.JOINED, user: { name: alice.name }, channel: { type: 'app' },
    });
    assert.match(aliceMember.id, ID.member);
    assert.equal(aliceMember.conversationId, conversation.id);
    assert.equal(aliceMember.state, 'JOINED');
    assert.match(aliceMember.timestamp?.joined ?? '', ISO_MS);
    assert.equal(aliceMember.channel?.type, 'app');
    // The SDK maps `_embedded.user` to `user` (it throws if the server leaves `_embedded.user` out).
    assert.equal(aliceMember.user.id, alice.id);
    assert.equal(aliceMember.user.name, alice.name);
    assert.equal(aliceMember.user.displayName, 'alice');
  });

  test('createMember INVITED for another user', async () => {
    bobMember = await invite(conversation.id, bob.name);
    assert.match(bobMember.id, ID.member);
    assert.notEqual(bobMember.id, aliceMember.id);
    assert.equal(bobMember.state, 'INVITED');
    assert.match(bobMember.timestamp?.invited ?? '', ISO_MS);
    assert.equal(bobMember.user.id, bob.id);
    assert.equal(bobMember.user.name, bob.name);
  });

  test('getMember returns the member with its user', async () => {
    const fetched = await conversations.getMember(conversation.id, bobMember.id);
    assert.equal(fetched.id, bobMember.id);
    assert.equal(fetched.conversationId, conversation.id);
    assert.equal(fetched.state, 'INVITED');
    assert.equal(fetched.user.id, bob.id);
    assert.equal(fetched.user.name, bob.name);
    await rejectsWith(conversations.getMember(conversation.id, 'MEM-00000000-0000-4000-8000-000000000000'), 404,
      'conversation:error:member-not-found');
  });

  test('getMemberPage and listAllMembers', async () => {
    const first = await conversations.getMemberPage(conversation.id, { pageSize: 1 });
    assert.equal(first.pageSize, 1);
    assert.equal(first.members.length, 1);
    assert.equal(first.members[0].id, aliceMember.id, 'oldest member first by default');
    assert.equal(first.members[0].state, 'JOINED');
    assert.equal(first.members[0].user.name, alice.name);
    const second = await conversations.getMemberPage(conversation.id, { cursor: cursorOf(first.links) });
    assert.equal(second.pageSize, 1, 'the cursor keeps the page size');
    assert.deepEqual(second.members.map((m) => m.id), [bobMember.id]);
    assert.equal(second.links?.next, undefined, 'the last page has no next link');

    const all = await collect(conversations.listAllMembers(conversation.id, { pageSize: 1 }));
    assertUniqueIds(all, 'members');
    assert.deepEqual(all.map((m) => [m.id, m.state, m.user.id]), [
      [aliceMember.id, 'JOINED', alice.id],
      [bobMember.id, 'INVITED', bob.id],
    ]);
    const desc = await collect(conversations.listAllMembers(conversation.id, { pageSize: 1, order: 'desc' }));
    assert.deepEqual(desc.map((m) => m.id), [bobMember.id, aliceMember.id]);
  });

  test('a second JOINED member for the same user rejects with 400 (member-already-joined)', async () => {
    await rejectsWith(join(conversation.id, alice.name), 400, 'conversation:error:member-already-joined');
  });

  test('concurrent joins of one user: exactly one member, the others rejected with 400', async () => {
    const racer = await createUser('racer');
    const room = await createConversation('join-race');
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => join(room.id, racer.name)));
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    assert.equal(won.length, 1, `exactly one join wins: ${outcomes.map((o) => o.status).join(',')}`);
    for (const lost of outcomes.filter((o) => o.status === 'rejected')) {
      await rejectsWith(Promise.reject(lost.reason), 400, 'conversation:error:member-already-joined');
    }
    const all = await collect(conversations.listAllMembers(room.id));
    assert.deepEqual(all.map((m) => [m.id, m.state]), [[won[0].value.id, 'JOINED']]);
    assert.equal((await conversations.getConversation(room.id)).sequenceNumber, 1, 'one member:joined event');
  });

  test('createMember for an unknown user name rejects with 404', async () => {
    await rejectsWith(join(conversation.id, `nobody-${Date.now()}`), 404, 'user:error:not-found');
  });

  test('getMe with a user token (sub = user name)', async () => {
    const asAlice = conversationsAs(alice.name);
    const me = await asAlice.getMe(conversation.id);
    assert.equal(me.id, aliceMember.id);
    assert.equal(me.state, 'JOINED');
    assert.equal(me.user.id, alice.id);
    assert.equal(me.user.name, alice.name);

    const asBob = conversationsAs(bob.name);
    const bobMe = await asBob.getMe(conversation.id);
    assert.equal(bobMe.id, bobMember.id);
    assert.equal(bobMe.state, 'INVITED');
  });

  test('updateMember INVITED → JOINED (accept), then JOINED → LEFT (leave) with a reason', async () => {
    const accepted = await conversations.updateMember(conversation.id, bobMember.id, {
      state: MemberState.JOINED, from: bobMember.id,
    });
    assert.equal(accepted.id, bobMember.id);
    assert.equal(accepted.state, 'JOINED');
    assert.match(accepted.timestamp?.joined ?? '', ISO_MS);
    assert.equal(accepted.user.name, bob.name);
    assert.equal((await conversations.getMember(conversation.id, bobMember.id)).state, 'JOINED');

    const left = await conversations.updateMember(conversation.id, bobMember.id, {
      state: MemberState.LEFT, from: bobMember.id, reason: { code: 'bye', text: 'Leaving for now' },
    });
    assert.equal(left.id, bobMember.id);
    assert.equal(left.state, 'LEFT');
    assert.match(left.timestamp?.left ?? '', ISO_MS);
    assert.equal((await conversations.getMember(conversation.id, bobMember.id)).state, 'LEFT');

    const events = await collect(conversations.listAllEvents(conversation.id, { eventType: 'member:left' }));
    assert.equal(events.length, 1);
    assert.deepEqual(events[0].body.reason, { code: 'bye', text: 'Leaving for now' });
  });

  test('updating a LEFT member rejects with 400 (invalid-member-state)', async () => {
    await rejectsWith(conversations.updateMember(conversation.id, bobMember.id, {
      state: MemberState.JOINED, from: bobMember.id,
    }), 400, 'conversation:error:invalid-member-state');
    await rejectsWith(conversations.updateMember(conversation.id, bobMember.id, {
      state: MemberState.LEFT, from: bobMember.id,
    }), 400, 'conversation:error:invalid-member-state');
  });

  test('listAllUserConversations shows each membership state', async () => {
    const aliceConversations = await collect(conversations.listAllUserConversations(alice.id));
    const aliceItem = aliceConversations.find((c) => c.id === conversation.id);
    assert.ok(aliceItem, 'alice is a member of the conversation');
    assert.deepEqual(aliceItem.embedded, { id: aliceMember.id, state: 'JOINED' });

    const bobJoined = await collect(conversations.listAllUserConversations(bob.id, { state: 'JOINED' }));
    assert.ok(!bobJoined.some((c) => c.id === conversation.id), 'bob has left: not among his JOINED conversations');
  });
});
