// nexmo-client 4.1.0, unmodified, sends an image: `conversation.sendImage(file)` uploads it to parley's IPS
// (`ips_url`), then sends the `image` request over /rtc; the other user gets the `image` event, fetches the
// thumbnail with `ImageEvent.fetchImage()` and marks it seen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { tokenGenerate } from '@vonage/jwt';
import { apiHost, applicationId, privateKey, createUser } from './helpers.mjs';
import { actAs, installStorage, installXMLHttpRequest } from './browser.mjs';

installStorage();
installXMLHttpRequest();
const ConversationClient = createRequire(import.meta.url)('nexmo-client');

// A 100 x 50 opaque PNG: parley answers with JPEG representations of it.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAGQAAAAyCAIAAAAlV+npAAAAX0lEQVR42u3QAQEAAAQAIGwwwmxTXTCgJpQ9G/yUAlmyZMmS'
  + 'JUuBLFmyZMmSpUCWLFmyZMlSIEuWLFmyZCmQJUuWLFmyFMiSJUuWLFkKZMmSJUuWLAWyZMmSJUuWgr8DPTQBQKt9TtcAAAAASUVORK5CYII=',
'base64');

function client() {
  return new ConversationClient({ url: apiHost, ips_url: `${apiHost}/v1/image`, cache: false, sync: 'none' });
}

function userToken(name) {
  return tokenGenerate(applicationId, privateKey, { subject: name });
}

// Width and height from a JPEG's start-of-frame segment.
function jpegSize(bytes) {
  assert.deepEqual([...bytes.subarray(0, 2)], [0xff, 0xd8], 'not a JPEG');
  for (let at = 2; at < bytes.length;) {
    const marker = bytes[at + 1];
    const length = bytes.readUInt16BE(at + 2);
    if (marker >= 0xc0 && marker <= 0xc2) return [bytes.readUInt16BE(at + 7), bytes.readUInt16BE(at + 5)];
    at += 2 + length;
  }
  throw new Error('no start-of-frame in the JPEG');
}

test('nexmo-client 4.1.0 sends an image; the other user receives it, fetches the thumbnail and sees it', async () => {
  const alice = await createUser('img-alice');
  const bob = await createUser('img-bob');
  const aliceToken = userToken(alice.name);
  const bobToken = userToken(bob.name);
  const a = client();
  const b = client();
  try {
    const aliceApp = await a.login(aliceToken);
    const bobApp = await b.login(bobToken);
    const conversation = await aliceApp.newConversation({ display_name: 'pictures' });
    await conversation.join();
    await conversation.join({ user_name: bob.name });
    const bobsView = await bobApp.getConversation(conversation.id);
    assert.equal(bobsView.me.state, 'JOINED');

    const received = new Promise((resolve) => bobsView.on('image', (sender, image) => resolve(image)));
    const delivered = new Promise((resolve) => conversation.on('image:delivered', (member, event) => resolve(event)));
    actAs(alice.name, aliceToken); // the upload carries the token kept in localStorage
    const upload = await conversation.sendImage(new File([PNG], 'photo.png', { type: 'image/png' }));
    const image = await received;
    assert.equal(upload.status, 200);
    assert.equal(image.type, 'image');
    assert.equal(image.from, conversation.me.id);
    assert.equal(Number.isInteger(image.id), true);
    const { representations } = image.body;
    assert.deepEqual(representations, JSON.parse(upload.responseText)); // the IPS answer, as the client sent it
    for (const [name, type] of [['original', 'ORIGINAL'], ['medium', 'MEDIUM'], ['thumbnail', 'THUMBNAIL']]) {
      assert.equal(representations[name].type, type);
      assert.equal(representations[name].url, `${apiHost}/v3/media/${representations[name].id}`);
    }
    // Bob's client sent image:delivered by itself (the client hands over the image it marked)
    assert.equal((await delivered).id, image.id);

    actAs(bob.name, bobToken);
    const dataUrl = await image.fetchImage(); // the thumbnail, with Bob's token
    const prefix = 'data:image/jpeg;base64,';
    assert.ok(dataUrl.startsWith(prefix));
    const thumbnail = Buffer.from(dataUrl.slice(prefix.length), 'base64');
    assert.equal(thumbnail.length, representations.thumbnail.size);
    assert.deepEqual(jpegSize(thumbnail), [30, 15]); // 30 % (sendImage's default ratio) of 100 x 50
    assert.deepEqual(jpegSize(Buffer.from((await image.fetchImage('medium')).slice(prefix.length), 'base64')),
      [50, 25]);

    const seen = new Promise((resolve) => conversation.on('image:seen', (member, event) => resolve(event)));
    await image.seen();
    assert.equal((await seen).id, image.id);
    const state = conversation.events.get(image.id).state;
    assert.deepEqual(Object.keys(state.seen_by), [bobsView.me.id]);
    assert.deepEqual(Object.keys(state.delivered_to), [bobsView.me.id]);

    // the upload was Alice's: Bob may not delete it, Alice may
    const original = representations.original.url;
    const asBob = await fetch(original, { method: 'DELETE', headers: { Authorization: `Bearer ${bobToken}` } });
    assert.equal(asBob.status, 403);
    const asAlice = await fetch(original, { method: 'DELETE', headers: { Authorization: `Bearer ${aliceToken}` } });
    assert.equal(asAlice.status, 204);
    await assert.rejects(image.fetchImage(), (error) => error.type === 'error:fetch-image');
  } finally {
    a.disconnect();
    b.disconnect();
  }
});
