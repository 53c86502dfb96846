// flowerclf service worker: caches the app, the MediaPipe runtime and the model on the first visit, then serves
// them from the cache (cache first), so the app works offline. flowerclf.app.build_app fills in BUILD and the file lists.
const BUILD = '__BUILD__';
const CORE = __CORE__;                        // the app, the runtime's bundle and the model
const WASM = __WASM__;                        // {simd: [...], nosimd: [...]}: only the pair this browser loads
const CACHE = `flowerclf-${self.registration.scope}-${BUILD}`;
// the same test module as MediaPipe's FilesetResolver (it picks the SIMD build when this validates)
const SIMD_TEST = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

function simd() { try { return WebAssembly.validate(SIMD_TEST); } catch (e) { return true; } }

self.addEventListener('install', event => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll([...CORE, ...(simd() ? WASM.simd : WASM.nosimd)].map(u => new Request(u, {cache: 'reload'})));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', event => {
  event.waitUntil((async () => {
    for (const key of await caches.keys())
      if (key.startsWith(`flowerclf-${self.registration.scope}-`) && key !== CACHE) await caches.delete(key);
    await self.clients.claim();
    for (const client of await self.clients.matchAll()) client.postMessage('cached');
  })());
});

self.addEventListener('fetch', event => {
  const request = event.request, url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const hit = await cache.match(request, {ignoreSearch: true}) ||
                (request.mode === 'navigate' ? await cache.match('./') : undefined);
    if (hit) return hit;
    const response = await fetch(request);
    if (response.ok && response.type === 'basic') cache.put(request, response.clone());
    return response;
  })());
});
