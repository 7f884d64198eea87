// Tokens: who may call what. Tokens are minted by the unmodified @vonage/jwt (directly, or through @vonage/auth).
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';

import { Auth } from '@vonage/auth';
import { Conversations } from '@vonage/conversations';
import { tokenGenerate } from '@vonage/jwt';
import { Users } from '@vonage/users';

import {
  apiHost, applicationId, conversations, createConversation, createUser, join, privateKey, rejectsWith, unique,
} from './helpers.mjs';

const otherKey = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
}).privateKey;

async function call(method, path, token, body) {
  const headers = { 'content-type': 'application/json' };
  if (token !== undefined) headers.authorization = token;
  const response = await fetch(`${apiHost}${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* a 204 has no body */ }
  return { status: response.status, json, text };
}

const USERS_ONLY = { paths: { '/*/users/**': {} } };

describe('authentication', () => {
  test('a token for an unknown application rejects with 401', async () => {
    const stranger = { applicationId: randomUUID(), privateKey: otherKey };
    await rejectsWith(new Conversations(stranger, { apiHost }).getConversationPage({}), 401,
      'system:error:invalid-token');
    await rejectsWith(new Users(stranger, { apiHost }).getUserPage({}), 401, 'system:error:invalid-token');
  });

  test('a token for this application signed with another key rejects with 401', async () => {
    const forged = new Conversations({ applicationId, privateKey: otherKey }, { apiHost });
    await rejectsWith(forged.getConversationPage({}), 401, 'system:error:invalid-token');
    await rejectsWith(forged.createConversation({ name: unique('forged') }), 401, 'system:error:invalid-token');
  });

  test('no token rejects with 401; the Bearer scheme is case-insensitive', async () => {
    const missing = await call('GET', '/v1/conversations');
    assert.equal(missing.status, 401, missing.text);
    assert.equal(missing.json?.code, 'system:error:missing-token', missing.text);

    const token = tokenGenerate(applicationId, privateKey);
    const lower = await call('GET', '/v1/users?page_size=1', `bearer ${token}`);
    assert.equal(lower.status, 200, lower.text);
    assert.equal(lower.json?.page_size, 1);
  });

  test('a token issued more than 24 h ago is expired (401) whatever its exp says', async () => {
    const now = Math.floor(Date.now() / 1000);
    const old = tokenGenerate(applicationId, privateKey, { issued_at: now - 25 * 3600, exp: now + 3600 });
    const response = await call('GET', '/v1/users', `Bearer ${old}`);
    assert.equal(response.status, 401, response.text);
    assert.equal(response.json?.code, 'system:error:expired-token', response.text);
  });

  test('getConversation of an unknown id rejects with 404', async () => {
    await rejectsWith(conversations.getConversation(`CON-${randomUUID()}`), 404, 'conversation:error:not-found');
  });
});

describe('ACL', () => {
  test('an acl without /*/conversations/** is refused (403) for conversations, allowed for users (raw fetch)', async () => {
    const token = `Bearer ${tokenGenerate(applicationId, privateKey, { acl: USERS_ONLY })}`;

    const listUsers = await call('GET', '/v1/users?page_size=2', token);
    assert.equal(listUsers.status, 200, listUsers.text);
    assert.ok(Array.isArray(listUsers.json?._embedded?.users), listUsers.text);
    const created = await call('POST', '/v1/users', token, { name: unique('acl') });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.json?.name.startsWith('e2e-'), true);

    const conversation = await createConversation('acl');
    for (const [method, path, body] of [
      ['GET', '/v1/conversations', undefined],
      ['POST', '/v1/conversations', { name: unique('acl-refused') }],
      ['GET', `/v1/conversations/${conversation.id}`, undefined],
      ['GET', `/v1/conversations/${conversation.id}/events`, undefined],
      ['DELETE', `/v1/conversations/${conversation.id}`, undefined],
    ]) {
      const refused = await call(method, path, token, body);
      assert.equal(refused.status, 403, `${method} ${path}: ${refused.text}`);
      assert.equal(typeof refused.json?.code, 'string', refused.text);
    }
    // Nothing happened: the conversation is still there.
    assert.equal((await conversations.getConversation(conversation.id)).id, conversation.id);
  });

  test('SDK clients whose jwtOptions carry the acl: Users allowed, Conversations refused with 403', async () => {
    const auth = new Auth({ applicationId, privateKey, jwtOptions: { acl: USERS_ONLY } });
    const restrictedUsers = new Users(auth, { apiHost });
    const restrictedConversations = new Conversations(auth, { apiHost });

    const user = await restrictedUsers.createUser({ name: unique('acl-sdk') });
    assert.equal((await restrictedUsers.getUser(user.id)).name, user.name);
    const page = await restrictedUsers.getUserPage({ name: user.name });
    assert.deepEqual(page._embedded.users.map((u) => u.id), [user.id]);

    await rejectsWith(restrictedConversations.getConversationPage({}), 403);
    await rejectsWith(restrictedConversations.createConversation({ name: unique('acl-sdk') }), 403);
  });

  test('acl rules restrict methods', async () => {
    const token = `Bearer ${tokenGenerate(applicationId, privateKey, {
      acl: { paths: { '/*/conversations/**': { methods: ['GET'] }, '/*/users/**': {} } },
    })}`;
    const list = await call('GET', '/v1/conversations?page_size=1', token);
    assert.equal(list.status, 200, list.text);
    const create = await call('POST', '/v1/conversations', token, { name: unique('get-only') });
    assert.equal(create.status, 403, create.text);
  });

  test('the standard Client SDK acl with sub: a user token reads its own membership', async () => {
    const user = await createUser('acl-user');
    const conversation = await createConversation('acl-user');
    const member = await join(conversation.id, user.name);
    const paths = {};
    for (const path of ['/*/users/**', '/*/conversations/**', '/*/sessions/**', '/*/devices/**', '/*/image/**',
      '/*/media/**', '/*/applications/**', '/*/push/**', '/*/knocking/**', '/*/legs/**']) {
      paths[path] = {};
    }
    const token = `Bearer ${tokenGenerate(applicationId, privateKey, { subject: user.name, acl: { paths } })}`;
    const me = await call('GET', `/v1/conversations/${conversation.id}/members/me`, token);
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json?.id, member.id);
    assert.equal(me.json?._embedded?.user?.name, user.name);
  });
});
