// @vonage/conversations (unmodified) against parley: /v1/conversations/{id}/events.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import { MemberState } from '@vonage/conversations';

import {
  ISO_MS, assertUniqueIds, collect, conversations, conversationsAs, createConversation, createUser, cursorOf,
  invite, join, rejectsWith, sendText,
} from './helpers.mjs';

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('events', () => {
  let alice;
  let bob;
  let conversation;
  let aliceMember;
  let bobMember;
  let firstText;
  const texts = new Map(); // event id -> text

  before(async () => {
    alice = await createUser('alice', { displayName: 'Alice E.' });
    bob = await createUser('bob');
    conversation = await createConversation('events');
    aliceMember = await join(conversation.id, alice.name); // event 1: member:joined
    bobMember = await invite(conversation.id, bob.name); // event 2: member:invited
  });

  test('createEvent (message/text) returns an integer id following the member events', async () => {
    firstText = await sendText(conversation.id, aliceMember.id, 'hello world');
    assert.equal(typeof firstText.id, 'number');
    assert.ok(Number.isInteger(firstText.id));
    assert.equal(firstText.id, 3, 'member:joined (1) and member:invited (2) came first');
    assert.equal(firstText.type, 'message');
    assert.equal(firstText.from, aliceMember.id);
    assert.deepEqual(firstText.body, { messageType: 'text', text: 'hello world' });
    assert.match(firstText.timestamp, ISO_MS);
    assert.equal(firstText.fromMember?.id, aliceMember.id);
    assert.equal(firstText.fromUser?.id, alice.id);
    assert.equal(firstText.fromUser?.name, alice.name);
    texts.set(firstText.id, 'hello world');
  });

  test('event ids are 1, 2, 3 … per conversation', async () => {
    const listed = await collect(conversations.listAllEvents(conversation.id, { pageSize: 100 }));
    assert.deepEqual(listed.slice(0, 3).map((e) => [e.id, e.type]),
      [[1, 'member:joined'], [2, 'member:invited'], [3, 'message']]);

    // Another conversation counts from 1 on its own.
    const other = await createConversation('events-other');
    const otherMember = await join(other.id, alice.name);
    const otherText = await sendText(other.id, otherMember.id, 'elsewhere');
    assert.equal(otherText.id, 2);
    assert.equal((await conversations.getConversation(other.id)).sequenceNumber, 2);
  });

  test('35 more texts: ids strictly increasing by one, sequenceNumber = last id', async () => {
    let previous = firstText.id;
    for (let i = 1; i <= 35; i += 1) {
      const text = `message ${String(i).padStart(2, '0')}`;
      const event = await sendText(conversation.id, aliceMember.id, text);
      assert.equal(event.id, previous + 1, `event ${i} id`);
      previous = event.id;
      texts.set(event.id, text);
    }
    assert.equal(previous, 38);
    assert.equal((await conversations.getConversation(conversation.id)).sequenceNumber, 38);
  });

  test('getEvent', async () => {
    const event = await conversations.getEvent(conversation.id, 20);
    assert.equal(event.id, 20);
    assert.equal(event.type, 'message');
    assert.equal(event.from, aliceMember.id);
    assert.deepEqual(event.body, { messageType: 'text', text: texts.get(20) });
    assert.equal(event.fromUser?.name, alice.name);
    await rejectsWith(conversations.getEvent(conversation.id, 9999), 404, 'event:error:not-found');
  });

  test('getEventPage and listAllEvents: several pages, every id once, asc and desc', async () => {
    const asc = await collect(conversations.listAllEvents(conversation.id, { pageSize: 10 }));
    assertUniqueIds(asc, 'asc');
    assert.deepEqual(asc.map((e) => e.id), range(1, 38));
    for (const [id, text] of texts) {
      assert.equal(asc[id - 1].body.text, text, `text of event ${id}`);
    }

    const desc = await collect(conversations.listAllEvents(conversation.id, { pageSize: 10, order: 'desc' }));
    assert.deepEqual(desc.map((e) => e.id), range(1, 38).reverse());

    // Page by page, following `_links.next` with the cursor alone, as listAllEvents does.
    const pages = [];
    let page = await conversations.getEventPage(conversation.id, { pageSize: 10, order: 'desc' });
    for (;;) {
      assert.equal(page.pageSize, 10);
      pages.push(page.events.map((e) => e.id));
      if (!page.links?.next) break;
      page = await conversations.getEventPage(conversation.id, { cursor: cursorOf(page.links) });
    }
    assert.deepEqual(pages, [range(29, 38).reverse(), range(19, 28).reverse(), range(9, 18).reverse(),
      range(1, 8).reverse()]);
  });

  test('filter by eventType', async () => {
    const messages = await collect(conversations.listAllEvents(conversation.id, { pageSize: 10, eventType: 'message' }));
    assert.deepEqual(messages.map((e) => e.id), range(3, 38));
    assert.ok(messages.every((e) => e.type === 'message'));

    const invited = await collect(conversations.listAllEvents(conversation.id, { eventType: 'member:invited' }));
    assert.deepEqual(invited.map((e) => [e.id, e.type]), [[2, 'member:invited']]);

    const ranged = await collect(conversations.listAllEvents(conversation.id, { startId: 10, endId: 14 }));
    assert.deepEqual(ranged.map((e) => e.id), range(10, 14));
  });

  test('deleteEvent: the event shows as deleted and excludeDeletedEvents omits it', async () => {
    await conversations.deleteEvent(conversation.id, 5);

    const deleted = await conversations.getEvent(conversation.id, 5);
    assert.equal(deleted.id, 5);
    assert.equal(deleted.type, 'message');
    assert.ok(deleted.deleted ?? deleted.timestamp?.deleted,
      `a deleted event is marked as deleted: ${JSON.stringify(deleted)}`);
    assert.equal(deleted.body?.text, undefined, 'the deleted text is gone');

    const all = await collect(conversations.listAllEvents(conversation.id, { pageSize: 100 }));
    assert.ok(all.some((e) => e.id === 5), 'without the flag the deleted event is still listed');
    const marker = all.find((e) => e.type === 'event:delete');
    assert.ok(marker, 'deleting appends an event:delete event');
    assert.equal(marker.id, 39);
    assert.equal(Number(marker.body.eventId), 5);

    const kept = await collect(conversations.listAllEvents(conversation.id, {
      pageSize: 10, excludeDeletedEvents: true,
    }));
    assert.ok(!kept.some((e) => e.id === 5), 'excludeDeletedEvents omits the deleted event');
    assert.deepEqual(kept.map((e) => e.id), [...range(1, 4), ...range(6, 39)]);
  });

  test('concurrent createEvent calls get distinct, gap-free ids', async () => {
    const room = await createConversation('events-race');
    const member = await join(room.id, alice.name); // event 1
    const sent = await Promise.all(range(1, 25).map((i) => sendText(room.id, member.id, `race ${i}`)));
    assert.deepEqual(sent.map((e) => e.id).sort((a, b) => a - b), range(2, 26));
    const listed = await collect(conversations.listAllEvents(room.id, { pageSize: 10 }));
    assert.deepEqual(listed.map((e) => e.id), range(1, 26));
    for (const event of sent) {
      assert.equal(listed[event.id - 1].body.text, event.body.text, `event ${event.id} is stored as returned`);
    }
    assert.equal((await conversations.getConversation(room.id)).sequenceNumber, 26);
  });

  test('createEvent from a member that is not JOINED rejects with 403', async () => {
    // bob is INVITED
    await rejectsWith(sendText(conversation.id, bobMember.id, 'not yet'), 403, 'event:error:not-joined');
    // … and after leaving
    await conversations.updateMember(conversation.id, aliceMember.id, { state: MemberState.LEFT, from: aliceMember.id });
    await rejectsWith(sendText(conversation.id, aliceMember.id, 'gone'), 403, 'event:error:not-joined');
    // a user token whose user is only invited
    await rejectsWith(conversationsAs(bob.name).createEvent(conversation.id, {
      type: 'message', from: bobMember.id, body: { messageType: 'text', text: 'as bob' },
    }), 403, 'event:error:not-joined');
    const last = await conversations.getConversation(conversation.id);
    const lastEvent = await conversations.getEvent(conversation.id, last.sequenceNumber);
    assert.equal(lastEvent.type, 'member:left', 'refused events were not stored');
  });
});
