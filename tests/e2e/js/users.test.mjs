// @vonage/users (unmodified) against parley: /v1/users.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { SortOrder } from '@vonage/users';

import {
  ID, ISO_MS, assertUniqueIds, collect, cursorOf, orderWithin, rejectsWith, unique, users,
} from './helpers.mjs';

describe('users', () => {
  test('createUser → getUser → updateUser (PATCH) round-trips every field', async () => {
    const name = unique('alice');
    const customData = { plan: 'gold', snake_key: { nested_value: 1 }, camelKey: [1, 'two', true] };
    const created = await users.createUser({
      name, displayName: 'Alice Example', imageUrl: 'https://example.com/alice.png', properties: { customData },
    });
    assert.match(created.id, ID.user);
    assert.equal(created.name, name);
    assert.equal(created.displayName, 'Alice Example');
    assert.equal(created.imageUrl, 'https://example.com/alice.png');
    // custom_data is the application's own data: the SDK hands it over raw, the server must keep its keys as-is.
    assert.deepEqual(created.properties.customData, customData);
    assert.match(created.timestamp?.created ?? '', ISO_MS);

    const fetched = await users.getUser(created.id);
    assert.equal(fetched.id, created.id);
    assert.equal(fetched.name, name);
    assert.equal(fetched.displayName, 'Alice Example');
    assert.equal(fetched.imageUrl, 'https://example.com/alice.png');
    assert.deepEqual(fetched.properties.customData, customData);

    // PATCH is partial: only display_name is sent, everything else must survive.
    const patched = await users.updateUser({ id: created.id, displayName: 'Alice Renamed' });
    assert.equal(patched.id, created.id);
    assert.equal(patched.displayName, 'Alice Renamed');
    assert.equal(patched.name, name);
    assert.equal(patched.imageUrl, 'https://example.com/alice.png');
    assert.deepEqual(patched.properties.customData, customData);

    const patchedData = await users.updateUser({ id: created.id, properties: { customData: { plan: 'silver' } } });
    assert.deepEqual(patchedData.properties.customData, { plan: 'silver' });
    assert.equal(patchedData.displayName, 'Alice Renamed');

    const refetched = await users.getUser(created.id);
    assert.equal(refetched.displayName, 'Alice Renamed');
    assert.deepEqual(refetched.properties.customData, { plan: 'silver' });
    assert.equal(refetched.name, name);
  });

  test('channels round-trip (websocket content-type and headers are mapped by the SDK)', async () => {
    const channels = {
      websocket: [{ uri: 'wss://example.com/socket', contentType: 'audio/l16;rate=16000',
        headers: { customer_id: 'ABC123' } }],
      pstn: [{ number: 123457 }],
      sip: [{ uri: 'sip:4442138907@sip.example.com;transport=tls', username: 'New SIP', password: 'P4s5w0rd' }],
      sms: [{ number: '447700900001' }],
      messenger: [{ id: '1234abcd5' }],
      vbc: [{ extension: '991' }],
    };
    const created = await users.createUser({ name: unique('channels'), channels });
    assert.deepEqual(created.channels, channels);
    assert.deepEqual((await users.getUser(created.id)).channels, channels);
  });

  test('getUserPage: pageSize, order and the name filter', async () => {
    const name = unique('paged');
    const created = await users.createUser({ name, displayName: 'Paged' });

    const byName = await users.getUserPage({ pageSize: 5, order: SortOrder.DESC, name });
    assert.equal(byName.page_size, 5);
    assert.equal(byName._embedded.users.length, 1, JSON.stringify(byName));
    assert.equal(byName._embedded.users[0].id, created.id);
    assert.equal(byName._embedded.users[0].name, name);
    assert.ok(byName._links.self.href && byName._links.first.href, 'self and first links are always present');
    assert.equal(byName._links.next, undefined, 'a single page has no next link');

    const none = await users.getUserPage({ name: unique('nobody') });
    assert.deepEqual(none._embedded.users, [], '_embedded.users is present and empty when nothing matches');

    const two = await users.getUserPage({ pageSize: 2, order: SortOrder.ASC });
    assert.equal(two.page_size, 2);
    assert.equal(two._embedded.users.length, 2);
  });

  test('listAllUsers walks several pages by cursor: every user exactly once, in order', async () => {
    const created = [];
    for (let i = 0; i < 25; i += 1) {
      created.push(await users.createUser({ name: unique(`bulk${String(i).padStart(2, '0')}`) }));
    }
    const mine = created.map((u) => u.id);

    const ascending = await collect(users.listAllUsers({ pageSize: 10 }));
    const ascIds = assertUniqueIds(ascending, 'listAllUsers asc');
    assert.deepEqual(orderWithin(ascIds, mine), mine, 'each created user exactly once, oldest first');

    const descending = await collect(users.listAllUsers({ pageSize: 10, order: SortOrder.DESC }));
    const descIds = assertUniqueIds(descending, 'listAllUsers desc');
    assert.deepEqual(orderWithin(descIds, mine), [...mine].reverse(), 'newest first with order=DESC');

    // By hand: `_links.next` is absolute and its cursor alone must carry page size and order (DESC here).
    const first = await users.getUserPage({ pageSize: 10, order: SortOrder.DESC });
    assert.equal(first._embedded.users.length, 10);
    const second = await users.getUserPage({ cursor: cursorOf(first._links) });
    assert.equal(second.page_size, 10, 'the cursor keeps the page size');
    assert.equal(second._embedded.users.length, 10);
    const walked = [...first._embedded.users, ...second._embedded.users].map((u) => u.id);
    // Where these 20 sit in a fresh ascending listing (robust against users created meanwhile by other suites).
    const position = new Map(assertUniqueIds(await collect(users.listAllUsers({ pageSize: 100 })), 'asc').map(
      (id, index) => [id, index]));
    const positions = walked.map((id) => position.get(id));
    assert.ok(positions.every((p) => p !== undefined), 'every walked user is in the full listing');
    assert.deepEqual(positions, [...positions].sort((a, b) => b - a), 'pages 1 and 2 run newest first, no overlap');
    assertUniqueIds(walked.map((id) => ({ id })), 'page 1 + page 2');
  });

  test('deleteUser → getUser rejects with 404', async () => {
    const created = await users.createUser({ name: unique('doomed') });
    await users.deleteUser(created.id);
    await rejectsWith(users.getUser(created.id), 404, 'user:error:not-found');
    const listed = await users.getUserPage({ name: created.name });
    assert.deepEqual(listed._embedded.users, [], 'a deleted user is no longer listed');
  });

  test('an invalid cursor or page size rejects with 400', async () => {
    await rejectsWith(users.getUserPage({ cursor: 'not-a-cursor' }), 400, 'paginator-builder:error:invalid-cursor');
    await rejectsWith(users.getUserPage({ pageSize: 101 }), 400, 'http:error:validation-fail');
  });

  test('getUser of an unknown id rejects with 404', async () => {
    await rejectsWith(users.getUser('USR-00000000-0000-4000-8000-000000000000'), 404, 'user:error:not-found');
  });

  test('a duplicate name rejects with 409', async () => {
    const name = unique('twin');
    await users.createUser({ name });
    await rejectsWith(users.createUser({ name }), 409, 'user:error:duplicate-name');
    const other = await users.createUser({ name: unique('other') });
    await rejectsWith(users.updateUser({ id: other.id, name }), 409, 'user:error:duplicate-name');
    assert.equal((await users.getUser(other.id)).name, other.name, 'the refused rename changed nothing');
  });
});
