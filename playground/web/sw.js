// Keeps the playground working offline once loaded. The page's files are fetched together when
// this worker installs, past the HTTP cache, so one cache holds one build; requests are answered
// from it, and from the network only for what it does not hold (nothing is added to it later,
// so files of two builds never mix). VERSION is the build's: a new build is a new worker, which
// fills a new cache and removes the old one when it takes over.
const VERSION = '__VERSION__';
const FILES = ['./', './index.html', './app.js', './style.css', './bizra_playground.js', './bizra_playground_bg.wasm'];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(VERSION)
      .then((cache) => cache.addAll(FILES.map((file) => new Request(file, { cache: 'reload' }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((key) => key !== VERSION).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  if (event.request.method !== 'GET') return;
  event.respondWith(
    caches.open(VERSION)
      .then((cache) => cache.match(event.request, { ignoreSearch: true }))
      .then((cached) => cached || fetch(event.request)),
  );
});
