"""Test the flowerclf web app (`flowerclf-app`) in a real browser: headless Debian Chromium, driven by selenium, at a
phone's size (390 x 844 CSS pixels, touch emulation), as a person uses it: photos are chosen through the page's file
input and the test reads what the page shows.

It builds the app from MODEL (a `.tflite` or a `flowerclf-train` folder; a model trained on the real data, so that
the real photos mean something), serves it on 127.0.0.1 and checks that:

* the app loads with no console error (one exception, filtered by its exact text: MediaPipe's WebAssembly prints
  "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." through console.error) and makes no request outside its
  own origin; it is installable (manifest, icons, service worker: Chromium reports no installability error);
* the page's JavaScript preprocessing equals `flowerclf.predict.preprocess_numpy`, and MediaPipe's web runtime gives
  LiteRT's scores on the same 8-bit input, within 1e-4;
* each of the four real test photos and the sunflower, chosen through the file input, shows the right species first,
  the same top-1 and top-5 as `flowerclf-predict` on the same `.tflite`, and probabilities within 0.02 of its figures;
* on test-split photos the tests were never tuned on (20, as JPEG files at three sizes), the app and
  `flowerclf-predict` agree on the top-1;
* a file that is not an image, a damaged or truncated JPEG, an empty file and a 144-megapixel image each show a clear
  message, and the next photo is classified; the runtime's no-SIMD build works too;
* a reload with the server stopped still works (the service worker) and classifies a photo.

Screenshots and `results.json` (agreement, timings) go to the artefacts folder. Exits 1 if a check failed.

Needs Debian's `chromium` and `chromium-driver`, and the web runtime in flowerclf's cache (or --runtime FILE):

    python tools/test_app.py --model DIR_OR_TFLITE [--artifacts _app_artifacts] [--runtime TGZ] [--realdata DIR]
"""
from __future__ import annotations
import argparse, base64, json, os, statistics, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path
import numpy as np

os.environ.setdefault('SE_OFFLINE', 'true')              # selenium-manager must not download a browser or a driver
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

XNNPACK_LINE = '"INFO: Created TensorFlow Lite XNNPACK delegate for CPU."'
TOL = 0.02
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update',
                 '--disable-sync', '--disable-quic', '--enable-unsafe-swiftshader', '--window-size=390,844']
PHONE = {'deviceMetrics': {'width': 390, 'height': 844, 'pixelRatio': 3, 'touch': True},
         'userAgent': 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36'}

class Checks:
    def __init__(self): self.passed, self.failed = 0, []
    def __call__(self, ok, what):
        if ok: self.passed += 1
        else: self.failed.append(what); print(f'FAIL {what}', flush=True)
        return ok

def chromium(profile:str):
    opts = webdriver.ChromeOptions()
    opts.binary_location = '/usr/bin/chromium'
    for a in CHROMIUM_ARGS + [f'--user-data-dir={profile}']: opts.add_argument(a)
    opts.add_experimental_option('mobileEmulation', PHONE)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL', 'performance': 'ALL'})
    d = webdriver.Chrome(options=opts, service=Service('/usr/bin/chromedriver'))
    d.set_page_load_timeout(60); d.set_script_timeout(120)
    return d

def console_errors(driver)->list:
    "Console entries at error level, except MediaPipe's XNNPACK line (exact text)"
    return [e['message'] for e in driver.get_log('browser')
            if e['level'] in ('SEVERE', 'ERROR') and not e['message'].endswith(XNNPACK_LINE)]

def foreign_requests(driver, base:str)->list:
    "Addresses the page asked for outside its own origin (Chromium's network log; chrome:// pages are the browser's own)"
    out = []
    for e in driver.get_log('performance'):
        m = json.loads(e['message'])['message']
        if m.get('method') == 'Network.requestWillBeSent':
            url = m['params']['request']['url']
            if not url.startswith((base, 'data:', 'blob:', 'chrome://', 'chrome-untrusted://')): out.append(url)
    return out

def wait_ready(driver)->str:
    return driver.execute_async_script("""const done = arguments[arguments.length - 1];
        window.flowerclf.ready.then(() => done('ready'), e => done('failed: ' + e));""")

def choose(driver, path)->dict:
    "Choose a file through the page's 'Choose a photo' input; wait for the answer; return it and what the page shows"
    n = driver.execute_script("return window.flowerclf.state.history.length")
    driver.find_element(By.ID, 'choose').send_keys(str(path))
    for _ in range(1200):
        if driver.execute_script("return window.flowerclf.state.history.length") > n and \
           driver.execute_script("return window.flowerclf.state.busy") == 0: break
        time.sleep(0.05)
    last = driver.execute_script("return window.flowerclf.state.last")
    last['shown'] = driver.execute_script("""return {
        error: document.getElementById('error').hidden ? '' : document.getElementById('error').textContent,
        results: !document.getElementById('results').hidden,
        rows: [...document.querySelectorAll('#top li')].map(li => ({name: li.dataset.name, probability: +li.dataset.probability,
               text: li.innerText.replace(/\\s+/g, ' '), bar: li.querySelector('.bar').getBoundingClientRect().width,
               track: li.querySelector('.track').getBoundingClientRect().width})),
        preview: !document.getElementById('preview').hidden && document.getElementById('preview').naturalWidth > 0}""")
    return last

def predict_json(paths, model:Path, top_k:int)->dict:
    "`flowerclf-predict --json` on the files: `{path: result}`"
    command = Path(sys.executable).parent/'flowerclf-predict'
    r = subprocess.run([str(command), *map(str, paths), str(model), '--top_k', str(top_k), '--json'], capture_output=True, text=True)
    if r.returncode not in (0, 1): raise SystemExit(f'flowerclf-predict failed: {r.stderr}')
    return {res['image']: res for res in json.loads(r.stdout)['results']}

TIE = 1e-3    # classes whose probabilities differ by less than this may swap places between two runtimes

def same_ranking(shown:list, theirs:list, tie:float=TIE)->bool:
    "Whether the app's top classes are flowerclf-predict's, in its order, but for near-ties (within `tie`) that swap"
    every = dict(theirs)
    return bool(shown) and all(n in every and every[n] >= p - tie for (n, _), (_, p) in zip(shown, theirs))

def compare(app:dict, ref:dict)->dict:
    "The app's top 5 against flowerclf-predict's probabilities of every class, for one photo"
    shown = [(r['name'], r['probability']) for r in app.get('top', [])]
    theirs = [(r['name'], r['probability']) for r in ref.get('predictions', [])]
    every = dict(theirs)
    diffs = [abs(p - every[n]) for n, p in shown if n in every]
    return {'top1': shown[0][0] if shown else None, 'top1_same': bool(shown) and shown[0][0] == theirs[0][0],
            'top5_same': same_ranking(shown, theirs),
            'max_prob_diff': max(diffs) if diffs and len(diffs) == len(shown) else float('inf')}

def unseen_photos(folder:Path, realdata:Path)->list:
    "20 test-split photos written as JPEG files at three sizes (the split's 192 pixels, 500, and 1,536 on the shorter side)"
    import tensorflow_datasets as tfds
    from PIL import Image
    from flowerclf.data import load_flowers
    folder.mkdir(parents=True, exist_ok=True)
    datasets, _ = load_flowers(realdata/'tfds', splits=('test',))
    out = []
    for i, (image, _) in enumerate(tfds.as_numpy(datasets['test'].skip(3000).take(20))):
        im = Image.fromarray(image)
        side = (192, 500, 1536)[i % 3]
        im = im.resize((round(im.width * side / min(im.size)), round(im.height * side / min(im.size))), Image.Resampling.LANCZOS)
        im.save(folder/f'unseen_{i:02d}_{im.width}x{im.height}.jpg', quality=90)
        out.append(folder/f'unseen_{i:02d}_{im.width}x{im.height}.jpg')
    return out

def bad_files(folder:Path, jpeg:bytes)->dict:
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    files = {'not_an_image.jpg': b'These are my notes about flowers, not a photo.\n' * 20, 'notes.txt': b'Just text.\n',
             'damaged.jpg': jpeg[:2] + bytes(np.random.RandomState(0).randint(0, 256, 4000, dtype=np.uint8)),
             'truncated.jpg': jpeg[:len(jpeg) * 2 // 5], 'empty.jpg': b''}
    for name, data in files.items(): (folder/name).write_bytes(data)
    Image.new('1', (12000, 12000), 1).save(folder/'huge_144mp.png', optimize=True)
    return {name: folder/name for name in [*files, 'huge_144mp.png']}

def same_preprocessing(driver, checks, size:int):
    "The page's preprocess.js against preprocess_numpy on random images of several sizes: the same float32 values"
    from flowerclf.predict import preprocess_numpy
    rng = np.random.RandomState(0)
    worst = 0.0
    for h, w in [(50, 40), (96, 96), (191, 300), (400, 193), (1000, 777)]:
        image = rng.randint(0, 256, (h, w, 3)).astype(np.uint8)
        got = driver.execute_async_script("""const [b64, w, h, size, done] = arguments;
          import('./preprocess.js').then(({centreSquare, processSquare}) => {
            const bin = atob(b64), raw = new Uint8Array(bin.length);
            for (let i = 0; i < bin.length; i++) raw[i] = bin.charCodeAt(i);
            const {left, top, side} = centreSquare(w, h), rgba = new Uint8ClampedArray(side * side * 4);
            for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) {
              const s = ((y + top) * w + x + left) * 3, d = (y * side + x) * 4;
              rgba[d] = raw[s]; rgba[d + 1] = raw[s + 1]; rgba[d + 2] = raw[s + 2]; rgba[d + 3] = 255; }
            const planes = processSquare(rgba, side, size), out = [];
            for (let p = 0; p < size * size; p++) for (let k = 0; k < 3; k++) out.push(planes[k][p]);
            done(out); });""", base64.b64encode(image.tobytes()).decode(), w, h, size)
        worst = max(worst, float(np.abs(np.array(got, np.float32).reshape(size, size, 3) - preprocess_numpy(image, size)).max()))
    checks(worst <= 1e-6, f'preprocess.js differs from preprocess_numpy by {worst}')
    return worst

def same_scores(driver, checks, model:Path)->float:
    "MediaPipe in the page against LiteRT on identical 8-bit images at the model's size: the same scores"
    from flowerclf.saveload import TFLiteModel
    lite = TFLiteModel(model); size, n = lite.input_shape[1], lite.output_shape[1]
    rng = np.random.RandomState(1)
    worst = 0.0
    for u8 in [rng.randint(0, 256, (size, size, 3)).astype(np.uint8) for _ in range(8)]:
        rgba = np.concatenate([u8, np.full((size, size, 1), 255, np.uint8)], -1)
        scores = driver.execute_script("""const [b64, size, n] = arguments;
          const bin = atob(b64), a = new Uint8ClampedArray(bin.length);
          for (let i = 0; i < bin.length; i++) a[i] = bin.charCodeAt(i);
          const r = window.flowerclf.state.classifier.classify(new ImageData(a, size, size));
          const s = new Array(n).fill(null); for (const k of r.classifications[0].categories) s[k.index] = k.score; return s;""",
          base64.b64encode(rgba.tobytes()).decode(), size, n)
        ref = lite.predict((u8.astype(np.float32) / 255)[None])[0]
        worst = max(worst, max(abs(v - ref[i]) for i, v in enumerate(scores) if v is not None))
    checks(worst <= 1e-4, f'the web runtime differs from LiteRT on the same input by {worst}')
    return worst

def shot(driver, folder:Path, name:str):
    h = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(390, max(844, min(h, 3000)))
    driver.save_screenshot(str(folder/f'{name}.png'))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--model', required=True, help='a .tflite file or a flowerclf-train output folder, trained on the real data')
    ap.add_argument('--artifacts', default='_app_artifacts', help='where the screenshots and results.json go')
    ap.add_argument('--runtime', help='the runtime tarball (default: from flowerclf\'s cache; no download)')
    ap.add_argument('--realdata', help='the real-data folder (default: find_realdata())')
    args = ap.parse_args(argv)
    from flowerclf.core import find_realdata
    from flowerclf.app import build_app, runtime_tarball, serve_app
    from flowerclf.saveload import read_labels
    realdata = Path(args.realdata) if args.realdata else find_realdata()
    if realdata is None: raise SystemExit('no real data: pass --realdata DIR or set FLOWERCLF_REALDATA')
    artifacts = Path(args.artifacts); artifacts.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix='flowerclf-app-test-'))
    checks, results = Checks(), {}

    runtime = args.runtime
    if runtime is None:
        runtime = tmp/'runtime.tgz'; runtime.write_bytes(runtime_tarball(download=False))
    app = build_app(args.model, tmp/'app', 'Flower finder', runtime=runtime, log=lambda m: print(m, flush=True))
    model = tmp/'app'/'model.tflite'                      # the very file the app runs; no labels.txt beside it
    names = read_labels(model)
    photos = {realdata/'udacity_p2'/'test_images'/f: label for f, label in [('cautleya_spicata.jpg', 60),
              ('hard-leaved_pocket_orchid.jpg', 1), ('orange_dahlia.jpg', 58), ('wild_pansy.jpg', 51)]}
    photos[realdata/'extra_images'/'sunflower.bmp'] = 53
    unseen = unseen_photos(tmp/'unseen', realdata)
    bad = bad_files(tmp/'bad', next(iter(photos)).read_bytes())
    reference = predict_json([*photos, *unseen], model, top_k=len(names))
    results['app'] = {'files': len(app['files']), 'bytes': app['bytes'], 'model_bytes': app['files']['model.tflite']}

    server, base = serve_app(tmp/'app')
    driver = chromium(tempfile.mkdtemp(prefix='chromium-'))
    try:
        t0 = time.perf_counter(); driver.get(base)
        checks(wait_ready(driver) == 'ready', 'the app did not get ready')
        results['load_seconds'] = round(time.perf_counter() - t0, 2)
        checks(not (errors := console_errors(driver)), f'console errors on load: {errors}')
        checks(driver.execute_script("return innerWidth") == 390, 'the viewport is not a phone\'s 390 px')
        checks(driver.execute_script("return navigator.maxTouchPoints > 0"), 'no touch emulation')
        checks(driver.find_element(By.ID, 'camera').get_attribute('capture') == 'environment', 'no camera input')
        shot(driver, artifacts, 'loaded')
        installable = driver.execute_cdp_cmd('Page.getInstallabilityErrors', {})
        checks(installable.get('installabilityErrors') == [], f'not installable: {installable}')
        results['preprocessing_max_diff'] = same_preprocessing(driver, checks, json.loads((tmp/'app'/'app-config.json').read_text())['size'])
        results['web_runtime_vs_litert_max_diff'] = same_scores(driver, checks, model)

        results['photos'], timings = {}, []
        for path, label in photos.items():
            got = choose(driver, path); c = compare(got, reference[str(path)])
            results['photos'][path.name] = c; timings.append(got.get('timings', {}))
            checks(c['top1'] == names[label], f'{path.name}: top-1 is {c["top1"]}, not {names[label]}')
            checks(c['top1_same'] and c['top5_same'], f'{path.name}: top-5 differs from flowerclf-predict')
            checks(c['max_prob_diff'] <= TOL, f'{path.name}: probabilities differ from flowerclf-predict by {c["max_prob_diff"]:.4f}')
            rows = got['shown']['rows']
            checks(len(rows) == 5 and got['shown']['preview'] and got['shown']['results'], f'{path.name}: the page shows {got["shown"]}')
            checks(rows and abs(rows[0]['bar'] / rows[0]['track'] - rows[0]['probability']) < 0.02, f'{path.name}: the bar is not to scale')
            shot(driver, artifacts, f'photo_{path.stem}')
            print(f"{path.name}: {c['top1']} {got['top'][0]['probability']:.1%}, max difference from flowerclf-predict "
                  f"{c['max_prob_diff']:.1e}", flush=True)
        for path in list(photos)[:4] * 2: timings.append(choose(driver, path).get('timings', {}))
        results['unseen'] = {p.name: compare(choose(driver, p), reference[str(p)]) for p in unseen}
        same = sum(c['top1_same'] for c in results['unseen'].values())
        diffs = [c['max_prob_diff'] for c in results['unseen'].values()]
        checks(same == len(unseen), f'unseen photos: the app and flowerclf-predict agree on the top-1 for {same} of {len(unseen)}')
        results['agreement'] = {'photos': len(photos), 'photos_max_prob_diff': round(max(c['max_prob_diff'] for c in results['photos'].values()), 5),
                                'unseen': len(unseen), 'unseen_top1_same': same, 'unseen_median_prob_diff': round(statistics.median(diffs), 4),
                                'unseen_max_prob_diff': round(max(diffs), 4)}
        print(f"unseen photos: top-1 the same for {same} of {len(unseen)}; probabilities {results['agreement']}", flush=True)

        results['bad'] = {}
        good = next(iter(photos))
        for name, path in bad.items():
            got = choose(driver, path)
            results['bad'][name] = got['shown']['error']
            checks(bool(got['shown']['error']) and not got['shown']['results'], f'{name}: no clear message ({got["shown"]})')
            shot(driver, artifacts, f'bad_{Path(name).stem}')
            after = choose(driver, good)
            checks(after.get('top') and after['top'][0]['name'] == names[photos[good]] and not after['shown']['error'],
                   f'{name}: the next photo was not classified')
            print(f'{name}: "{got["shown"]["error"]}"', flush=True)
        checks(not (errors := console_errors(driver)), f'console errors while classifying: {errors}')
        wasm = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.endsWith('.wasm'))")
        checks(len(wasm) == 1 and wasm[0].endswith('vision_wasm_internal.wasm'), f'WebAssembly loaded: {wasm}')
        checks(not (foreign := foreign_requests(driver, base)), f'requests outside the origin: {foreign[:5]}')

        driver.get(base + '?wasm=nosimd')
        checks(wait_ready(driver) == 'ready', 'the no-SIMD runtime did not start')
        got = choose(driver, good)
        checks(got.get('top') and got['top'][0]['name'] == names[photos[good]], 'the no-SIMD runtime did not name the photo')

        driver.get(base); wait_ready(driver)
        cached = driver.execute_async_script("""const done = arguments[arguments.length - 1];
            (async () => { await navigator.serviceWorker.ready;
              for (let i = 0; i < 600; i++) {
                const keys = await caches.keys();
                if (navigator.serviceWorker.controller && keys.length) { const c = await caches.open(keys[0]);
                  return done({controlled: true, entries: (await c.keys()).length}); }
                await new Promise(r => setTimeout(r, 100)); }
              done({controlled: !!navigator.serviceWorker.controller}); })();""")
        checks(cached.get('controlled') and cached.get('entries', 0) >= 14, f'the service worker did not cache the app: {cached}')
        server.shutdown(); server.server_close()
        try: urllib.request.urlopen(base, timeout=3); down = False
        except OSError: down = True
        checks(down, 'the server still answers')
        driver.get_log('browser'); driver.refresh()
        checks(wait_ready(driver) == 'ready', 'offline: the app did not get ready')
        sunflower = realdata/'extra_images'/'sunflower.bmp'
        got = choose(driver, sunflower)
        checks(got.get('top') and got['top'][0]['name'] == names[53], 'offline: the sunflower was not named')
        checks(not (errors := console_errors(driver)), f'console errors offline: {errors}')
        shot(driver, artifacts, 'offline')
        driver.execute_cdp_cmd('Emulation.setDeviceMetricsOverride', {'width': 1280, 'height': 800, 'deviceScaleFactor': 1, 'mobile': False})
        driver.set_window_size(1280, 800); driver.save_screenshot(str(artifacts/'desktop.png'))
    finally:
        driver.quit()
        try: server.shutdown(); server.server_close()
        except Exception: pass

    from flowerclf.predict import Classifier
    clf = Classifier(model); clf.warm_up()
    per_photo = []
    for path in list(photos)[:4]:
        for _ in range(10):
            t = time.perf_counter(); clf.predict(path); per_photo.append(time.perf_counter() - t)
    command = Path(sys.executable).parent/'flowerclf-predict'
    cold = []
    for _ in range(3):
        t = time.perf_counter(); subprocess.run([str(command), str(good), str(model)], capture_output=True); cold.append(time.perf_counter() - t)
    results['timings'] = {'browser_total_ms': statistics.median(t['total_ms'] for t in timings if t),
                          'browser_classify_ms': statistics.median(t['classify_ms'] for t in timings if t),
                          'classifier_ms': 1000 * statistics.median(per_photo), 'command_s': statistics.median(cold)}
    (artifacts/'results.json').write_text(json.dumps(results, indent=1, default=str))
    print(f"timings: {results['timings']}")
    print(f'{checks.passed} checks passed, {len(checks.failed)} failed; screenshots in {artifacts}/')
    return 1 if checks.failed else 0

if __name__ == '__main__': sys.exit(main())
