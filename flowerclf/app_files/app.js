// flowerclf web app: names the flower in a photo with the model, on this device (MediaPipe Tasks, wasm, CPU).
// The photo is decoded, its centre square prepared exactly as flowerclf-predict prepares it (preprocess.js), and the
// size x size result handed to MediaPipe's ImageClassifier, which takes the class names from the model's metadata.
import {FilesetResolver, ImageClassifier} from './vendor/tasks-vision/vision_bundle.mjs';
import {centreSquare, processSquare, toRGBA, draftScale, boxReduce} from './preprocess.js';

const MAX_BYTES = 64 * 1024 * 1024;        // a bigger file is refused before it is read
const MAX_PIXELS = 100e6;                  // decoding more would need > 400 MB of memory
const MAX_CANVAS_SIDE = 4096;              // 4096 x 4096 = iOS Safari's canvas limit: bigger squares are scaled first

// ?wasm=nosimd: load the runtime's no-SIMD build (what FilesetResolver picks on a browser without wasm SIMD), to test it
// on a browser that has SIMD
const NOSIMD = new URLSearchParams(location.search).get('wasm') === 'nosimd';

const $ = id => document.getElementById(id);
const state = {classifier: null, config: null, busy: 0, history: [], last: null, errors: []};
let resolveReady, rejectReady;
const ready = new Promise((res, rej) => { resolveReady = res; rejectReady = rej; });
window.flowerclf = {ready, state};         // for the browser test and for curious people

function status(text) { $('status').textContent = text; }
function showError(text) {
  const e = $('error'); e.textContent = text; e.hidden = !text;
  if (text) state.errors.push(text);
}

class PhotoError extends Error {}

function loadImage(url) {                  // an <img> tells the size without decoding the pixels yet
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new PhotoError('not-decodable'));
    img.src = url;
  });
}

async function decode(file) {              // the pixels as the file has them: EXIF orientation applied, no colour conversion
  try { return await createImageBitmap(file, {imageOrientation: 'from-image', colorSpaceConversion: 'none', premultiplyAlpha: 'none'}); }
  catch (e) {
    if (e instanceof TypeError) return await createImageBitmap(file);    // an older browser without these options
    throw e;
  }
}

function describe(file) { return file.name ? `“${file.name}”` : 'This file'; }

async function prepare(file, size) {
  if (file.size === 0) throw new PhotoError(`${describe(file)} is empty.`);
  if (file.size > MAX_BYTES) throw new PhotoError(`${describe(file)} is ${(file.size / 2 ** 20).toFixed(0)} MB: too big. Choose a photo under ${MAX_BYTES / 2 ** 20} MB.`);
  const url = URL.createObjectURL(file);
  let img;
  try { img = await loadImage(url); }
  catch (e) {
    URL.revokeObjectURL(url);
    throw new PhotoError(file.type && !file.type.startsWith('image/')
      ? `${describe(file)} is not an image (${file.type}). Choose a photo (JPEG, PNG, WebP…).`
      : `${describe(file)} could not be read as an image: it is not an image, it is damaged, or this browser cannot decode its format.`);
  }
  const w = img.naturalWidth, h = img.naturalHeight;
  if (!w || !h) { URL.revokeObjectURL(url); throw new PhotoError(`${describe(file)} has no pixels.`); }
  if (w * h > MAX_PIXELS) {
    URL.revokeObjectURL(url);
    throw new PhotoError(`${describe(file)} is ${w} × ${h} pixels (${(w * h / 1e6).toFixed(0)} megapixels): too big for this app (at most ${MAX_PIXELS / 1e6}). Choose a smaller photo.`);
  }
  let bitmap;
  try { bitmap = await decode(file); }
  catch (e) { URL.revokeObjectURL(url); throw new PhotoError(`${describe(file)} could not be decoded: it is damaged or in a format this browser cannot read.`); }
  try {
    // a JPEG is reduced k-fold first, as flowerclf-predict's decoder does (see draftScale); the centre square is
    // taken on that reduced grid, and only its region of the photo is read out of the bitmap
    const k = (await isJpeg(file)) ? draftScale(bitmap.width, bitmap.height, 4 * size) : 1;
    const {left, top, side} = centreSquare(Math.ceil(bitmap.width / k), Math.ceil(bitmap.height / k));
    const x0 = left * k, y0 = top * k;
    const rw = Math.min((left + side) * k, bitmap.width) - x0, rh = Math.min((top + side) * k, bitmap.height) - y0;
    let rgba, s;
    if (Math.max(rw, rh) <= MAX_CANVAS_SIDE) {                            // exact: a 1:1 copy of the region
      const ctx = makeCanvas(rw, rh).getContext('2d', {willReadFrequently: true});
      ctx.drawImage(bitmap, x0, y0, rw, rh, 0, 0, rw, rh);
      const data = ctx.getImageData(0, 0, rw, rh).data;
      rgba = k > 1 ? boxReduce(data, rw, rh, k, side) : data; s = side;
    } else {                                                                // over iOS's canvas limit: let the browser shrink it first
      s = Math.min(side, MAX_CANVAS_SIDE);
      const ctx = makeCanvas(s, s).getContext('2d', {willReadFrequently: true});
      ctx.imageSmoothingQuality = 'high';
      ctx.drawImage(bitmap, x0, y0, rw, rh, 0, 0, s, s);
      rgba = ctx.getImageData(0, 0, s, s).data;
    }
    const planes = processSquare(rgba, s, size);
    return {url, width: bitmap.width, height: bitmap.height, draft: k, image: new ImageData(toRGBA(planes, size), size, size)};
  } finally { bitmap.close?.(); }
}

async function isJpeg(file) {
  const b = new Uint8Array(await file.slice(0, 3).arrayBuffer());
  return b[0] === 0xFF && b[1] === 0xD8 && b[2] === 0xFF;
}

function makeCanvas(w, h) {
  if (typeof OffscreenCanvas !== 'undefined') return new OffscreenCanvas(w, h);
  const c = document.createElement('canvas'); c.width = w; c.height = h; return c;
}

function percent(p) { return p >= 0.0005 ? `${(100 * p).toFixed(1)}%` : '<0.1%'; }     // flowerclf-predict's {:.1%}

function showResults(categories) {
  const ol = $('top'); ol.replaceChildren();
  for (const c of categories) {
    const li = document.createElement('li');
    li.dataset.index = c.index; li.dataset.name = c.categoryName; li.dataset.probability = c.score;
    const name = document.createElement('span'); name.className = 'name'; name.textContent = c.displayName || c.categoryName || `class ${c.index + 1}`;
    const pct = document.createElement('span'); pct.className = 'pct'; pct.textContent = percent(c.score);
    const track = document.createElement('span'); track.className = 'track';
    const bar = document.createElement('span'); bar.className = 'bar'; bar.style.width = `${(100 * c.score).toFixed(2)}%`;
    track.append(bar); li.append(name, pct, track); li.setAttribute('aria-label', `${name.textContent}: ${pct.textContent}`);
    ol.append(li);
  }
  $('results').hidden = false;
}

let generation = 0;
async function classifyFile(file) {
  const mine = ++generation;
  showError('');
  if (!file) return;
  if (!state.classifier) { showError('The model is not loaded yet.'); return; }
  state.busy++;
  status('Looking at the photo…');
  const t0 = performance.now();
  let prepared;
  try {
    prepared = await prepare(file, state.config.size);
    const t1 = performance.now();
    const result = state.classifier.classify(prepared.image);
    const t2 = performance.now();
    if (mine !== generation) return;                                   // a newer photo was chosen meanwhile
    const cats = result.classifications[0].categories;
    const preview = $('preview');
    if (preview.dataset.url) URL.revokeObjectURL(preview.dataset.url);
    preview.src = prepared.url; preview.dataset.url = prepared.url; preview.hidden = false;
    preview.alt = `Your photo (${prepared.width} × ${prepared.height})`;
    $('photo').classList.remove('empty'); $('placeholder').hidden = true;
    showResults(cats);
    const timings = {prepare_ms: t1 - t0, classify_ms: t2 - t1, total_ms: t2 - t0};
    $('timing').textContent = `Named in ${Math.round(timings.total_ms)} ms on this device (photo ${Math.round(timings.prepare_ms)} ms, model ${Math.round(timings.classify_ms)} ms).`;
    state.last = {file: file.name, width: prepared.width, height: prepared.height, draft: prepared.draft ?? null, timings,
                  top: cats.map(c => ({index: c.index, name: c.categoryName, probability: c.score}))};
    state.history.push(state.last);
    status(`${cats[0].categoryName ? cats[0].categoryName[0].toUpperCase() + cats[0].categoryName.slice(1) : 'Done'} — ${percent(cats[0].score)}`);
  } catch (e) {
    if (mine !== generation) return;
    if (prepared) URL.revokeObjectURL(prepared.url);
    $('results').hidden = true; $('preview').hidden = true; $('placeholder').hidden = false; $('photo').classList.add('empty');
    showError(e instanceof PhotoError ? e.message : `Something went wrong with this photo (${e.name}: ${e.message}). Try another.`);
    state.last = {file: file.name, error: e.message};
    state.history.push(state.last);
    status('Ready: take or choose another photo.');
  } finally { state.busy--; }
}

async function init() {
  try {
    state.config = await (await fetch('app-config.json')).json();
    const c = state.config;
    $('about').textContent = `${c.modelName || 'Model'}${c.modelVersion ? ' ' + c.modelVersion : ''}: ${c.numClasses} classes, ${c.size} × ${c.size} input, ` +
      `${(c.modelBytes / 2 ** 20).toFixed(1)} MB · MediaPipe Tasks ${c.runtime.version}`;
    status('Loading the model…');
    const fileset = NOSIMD ? {wasmLoaderPath: 'vendor/tasks-vision/wasm/vision_wasm_nosimd_internal.js',
                               wasmBinaryPath: 'vendor/tasks-vision/wasm/vision_wasm_nosimd_internal.wasm'}
                           : await FilesetResolver.forVisionTasks('vendor/tasks-vision/wasm');
    const response = await fetch(c.model);
    if (!response.ok) throw new Error(`${c.model}: HTTP ${response.status}`);
    const model = new Uint8Array(await response.arrayBuffer());
    state.classifier = await ImageClassifier.createFromOptions(fileset, {
      baseOptions: {modelAssetBuffer: model, delegate: 'CPU'}, maxResults: c.topK, runningMode: 'IMAGE'});
    state.classifier.classify(new ImageData(new Uint8ClampedArray(c.size * c.size * 4).fill(255), c.size, c.size));   // warm up
    for (const id of ['camera', 'choose']) {
      const input = $(id);
      input.disabled = false;
      input.addEventListener('change', () => { const f = input.files[0]; input.value = ''; classifyFile(f); });
    }
    status('Ready: take or choose a photo of a flower.');
    resolveReady(true);
  } catch (e) {
    showError(`The app could not start: ${e.message || e}. Reload the page to try again.`);
    status('');
    rejectReady(e);
  }
}

async function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) { $('offline').textContent = 'Offline use needs HTTPS (or localhost).'; return; }
  try {
    await navigator.serviceWorker.register('sw.js');
    const reg = await navigator.serviceWorker.ready;
    const show = async () => { if (await caches.has(`flowerclf-${reg.scope}-${state.config?.build}`)) $('offline').textContent = 'Works offline.'; };
    navigator.serviceWorker.addEventListener('message', e => { if (e.data === 'cached') show(); });
    await ready.catch(() => {}); show();
  } catch (e) { $('offline').textContent = 'Offline use is not available here.'; }
}

init();
registerServiceWorker();
