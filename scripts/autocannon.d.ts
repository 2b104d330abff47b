// autocannon ships no types; the bench scripts use a small part of its API
declare module 'autocannon';
