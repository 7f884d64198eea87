// nexmo-client 4.1.0 (the In-App Messaging socket-RPC dialect on /rtc) under Node 20, unmodified: it keeps its
// token in localStorage and refuses to log in without `Storage` (reference §1.9), so this module installs an
// in-memory stand-in before loading it. Importing it is the whole set-up.
import { createRequire } from 'node:module';
import { tokenGenerate } from '@vonage/jwt';
import { apiHost, applicationId, privateKey } from './helpers.mjs';
import { memory } from './storage.mjs';

export const ConversationClient = createRequire(import.meta.url)('nexmo-client');

export function legacyClient() {
  return new ConversationClient({ url: apiHost, cache: false, sync: 'none' });
}

export function userToken(name, options = {}) {
  return tokenGenerate(applicationId, privateKey, { subject: name, ...options });
}
