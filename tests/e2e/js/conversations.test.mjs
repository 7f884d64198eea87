// @vonage/conversations (unmodified) against parley: /v1/conversations and /v1/users/{id}/conversations.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  ID, ISO_MS, applicationId, assertUniqueIds, collect, conversations, createConversation, createUser, cursorOf, join,
  orderWithin, rejectsWith, sendText, unique,
} from './helpers.mjs';

describe('conversations', () => {
  test('createConversation → getConversation → updateConversation (PUT)', async () => {
    const name = unique('room');
    const customData = { team_id: 7, camelKey: 'kept', nested: { snake_case: true } };
    const created = await conversations.createConversation({
      name,
      displayName: 'Support Room',
      imageUrl: 'https://example.com/room.png',
      properties: { ttl: 3600, customData },
    });
    assert.match(created.id, ID.conversation);
    assert.equal(created.name, name);
    assert.equal(created.displayName, 'Support Room');
    assert.equal(created.imageUrl, 'https://example.com/room.png');
    assert.equal(created.state, 'ACTIVE');
    assert.equal(created.sequenceNumber, 0);
    assert.equal(created.properties.ttl, 3600);
    // custom_data is the caller's data: the SDK restores it raw, the server must keep its keys untouched.
    assert.deepEqual(created.properties.customData, customData);
    assert.match(created.timestamp?.created ?? '', ISO_MS);

    const fetched = await conversations.getConversation(created.id);
    assert.equal(fetched.id, created.id);
    assert.equal(fetched.name, name);
    assert.equal(fetched.displayName, 'Support Room');
    assert.equal(fetched.state, 'ACTIVE');
    assert.equal(fetched.sequenceNumber, 0, 'no events yet');
    assert.equal(fetched.properties.ttl, 3600);
    assert.deepEqual(fetched.properties.customData, customData);

    // The SDK sends PUT with the object minus id/sequenceNumber/timestamp/state.
    const updated = await conversations.updateConversation({
      ...fetched,
      displayName: 'Support Room 2',
      properties: { ttl: 7200, customData: { team_id: 8 } },
    });
    assert.equal(updated.id, created.id);
    assert.equal(updated.name, name);
    assert.equal(updated.displayName, 'Support Room 2');
    assert.equal(updated.properties.ttl, 7200);
    assert.deepEqual(updated.properties.customData, { team_id: 8 });

    const refetched = await conversations.getConversation(created.id);
    assert.equal(refetched.displayName, 'Support Room 2');
    assert.equal(refetched.properties.ttl, 7200);
    assert.deepEqual(refetched.properties.customData, { team_id: 8 });
    assert.equal(refetched.imageUrl, 'https://example.com/room.png');
  });

  test('createConversation keeps properties.type and customSortKey, and accepts numbers and callback', async () => {
    const created = await conversations.createConversation({
      name: unique('full'),
      properties: { ttl: 60, type: 'quick_chat', customSortKey: 'CSK_1', customData: { a: 'b' } },
      numbers: [{ type: 'phone', number: '447700900000' }],
      callback: {
        url: 'https://example.com/callback', eventMask: 'member:joined', method: 'POST',
        params: { applicationId, nccoUrl: 'https://example.com/ncco' },
      },
    });
    assert.deepEqual(created.properties, { ttl: 60, type: 'quick_chat', customSortKey: 'CSK_1', customData: { a: 'b' } });
    assert.deepEqual((await conversations.getConversation(created.id)).properties, created.properties);
  });

  test('sequenceNumber starts at 0 and follows the last event id', async () => {
    const user = await createUser('seq');
    const conversation = await createConversation('seq');
    assert.equal((await conversations.getConversation(conversation.id)).sequenceNumber, 0);

    const member = await join(conversation.id, user.name); // member:joined takes event id 1
    const afterJoin = await conversations.getConversation(conversation.id);
    assert.equal(afterJoin.sequenceNumber, 1);

    const first = await sendText(conversation.id, member.id, 'one');
    const second = await sendText(conversation.id, member.id, 'two');
    assert.equal(first.id, 2);
    assert.equal(second.id, 3);
    const afterTexts = await conversations.getConversation(conversation.id);
    assert.equal(afterTexts.sequenceNumber, 3);
  });

  test('getConversationPage and listAllConversations page through without repeats or skips', async () => {
    const mine = [];
    for (let i = 0; i < 12; i += 1) {
      mine.push((await createConversation(`page${String(i).padStart(2, '0')}`)).id);
    }

    const ascending = assertUniqueIds(await collect(conversations.listAllConversations({ pageSize: 5 })), 'asc');
    assert.deepEqual(orderWithin(ascending, mine), mine, 'each created conversation exactly once, oldest first');

    const descending = assertUniqueIds(
      await collect(conversations.listAllConversations({ pageSize: 5, order: 'desc' })), 'desc');
    assert.deepEqual(orderWithin(descending, mine), [...mine].reverse(), 'newest first with order=desc');

    const first = await conversations.getConversationPage({ pageSize: 5, order: 'desc' });
    assert.equal(first.pageSize, 5);
    assert.equal(first.conversations.length, 5);
    for (const item of first.conversations) {
      assert.match(item.id, ID.conversation);
      assert.equal(typeof item.name, 'string');
    }
    // The SDK follows `_links.next` with the cursor alone: it must reproduce page size and order.
    const second = await conversations.getConversationPage({ cursor: cursorOf(first.links) });
    assert.equal(second.pageSize, 5);
    assert.equal(second.conversations.length, 5);
    const walked = [...first.conversations, ...second.conversations].map((c) => c.id);
    assertUniqueIds(walked.map((id) => ({ id })), 'page 1 + page 2');
    const position = new Map(
      assertUniqueIds(await collect(conversations.listAllConversations({ pageSize: 100 })), 'all')
        .map((id, index) => [id, index]));
    const positions = walked.map((id) => position.get(id));
    assert.ok(positions.every((p) => p !== undefined), 'every walked conversation is in the full listing');
    assert.deepEqual(positions, [...positions].sort((a, b) => b - a), 'pages 1 and 2 run newest first');
  });

  test('deleteConversation → getConversation rejects with 404', async () => {
    const conversation = await createConversation('doomed');
    await conversations.deleteConversation(conversation.id);
    await rejectsWith(conversations.getConversation(conversation.id), 404, 'conversation:error:not-found');
    const listed = await collect(conversations.listAllConversations({ pageSize: 100 }));
    assert.ok(!listed.some((c) => c.id === conversation.id), 'a deleted conversation is no longer listed');
  });

  test('getConversation of an unknown id rejects with 404', async () => {
    await rejectsWith(conversations.getConversation('CON-00000000-0000-4000-8000-000000000000'), 404,
      'conversation:error:not-found');
  });

  test('a duplicate name rejects with 409', async () => {
    const name = unique('twin');
    await conversations.createConversation({ name });
    await rejectsWith(conversations.createConversation({ name }), 409, 'conversation:error:duplicate-name');
    const other = await createConversation('other');
    await rejectsWith(conversations.updateConversation({ ...other, name }), 409, 'conversation:error:duplicate-name');
    assert.equal((await conversations.getConversation(other.id)).name, other.name, 'the refused rename changed nothing');
  });

  test('listAllUserConversations lists the conversations a user is a member of', async () => {
    const user = await createUser('member-of');
    const other = await createUser('not-member');
    const joined = [];
    for (let i = 0; i < 3; i += 1) {
      const conversation = await createConversation(`uc${i}`);
      const member = await join(conversation.id, user.name);
      joined.push({ conversation, member });
    }
    await createConversation('uc-none'); // the user is not in this one

    const listed = await collect(conversations.listAllUserConversations(user.id, { pageSize: 2 }));
    assertUniqueIds(listed, 'user conversations');
    assert.deepEqual(listed.map((c) => c.id).sort(), joined.map((j) => j.conversation.id).sort());
    for (const { conversation, member } of joined) {
      const item = listed.find((c) => c.id === conversation.id);
      assert.equal(item.name, conversation.name);
      // `_embedded` (camel-cased by the SDK to `embedded`) is the user's own membership.
      assert.deepEqual(item.embedded, { id: member.id, state: 'JOINED' });
    }
    assert.deepEqual(await collect(conversations.listAllUserConversations(other.id)), []);
  });
});
