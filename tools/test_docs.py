"""Test the built docs site (`_docs/`) in a real browser: headless Chromium driven by Selenium.

Serves the site on 127.0.0.1 and checks that every page loads without console errors, that no internal link or
anchor is broken, that every image loads with a non-zero size, that the sidebar lists every notebook in `nbs/`, and
that each name in `flowerclf.predict.__all__` is documented on its page (skipped, saying so, while
`flowerclf/predict.py` does not exist). Saves a full-page screenshot of every page (`index.png`, `predict.png`, ...)
into the artefacts folder. Reads the library's source, never imports it.

Needs Debian's `chromium` and `chromium-driver` (`apt-get install -y chromium chromium-driver`); Selenium uses that
chromedriver and downloads nothing. Run from the repository root after `python tools/build_docs.py`:

    python tools/test_docs.py                                   # site _docs/, screenshots into _docs_artifacts/
    python tools/test_docs.py --site _docs --artifacts DIR
"""
from __future__ import annotations
import argparse, ast, os, sys, tempfile, threading, urllib.error, urllib.request
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag, urljoin

from nbdev.config import get_config
from nbdev.doclinks import _nbpath2html, nbglob

os.environ.setdefault('SE_OFFLINE', 'true')            # selenium-manager must not download a browser or a driver
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM, CHROMEDRIVER = '/usr/bin/chromium', '/usr/bin/chromedriver'
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--no-first-run', '--disable-background-networking', '--enable-unsafe-swiftshader',
                 '--disable-component-update', '--disable-sync', '--disable-quic', '--window-size=1440,900']
# the Try it page's app: MediaPipe draws with WebGL (SwiftShader here), and its WebAssembly prints this line through
# console.error; it is not an error, and it is the only console line let through at that level (by its exact text)
XNNPACK_LINE = '"INFO: Created TensorFlow Lite XNNPACK delegate for CPU."'
SIDEBAR = 'nav.md-nav--primary a[href], #quarto-sidebar a[href]'   # MkDocs Material, or quarto's own build
WAIT_IMAGES = """const done = arguments[arguments.length - 1];
const images = [...document.images].filter(i => i.getAttribute('src'));   // not an <img> waiting for a photo (the app's preview)
Promise.all(images.map(i => i.complete ? 0 : new Promise(r => { i.onload = i.onerror = r; })))
  .then(() => done(images.map(i => [i.currentSrc || i.src, i.naturalWidth, i.naturalHeight])));"""
PAGE_FACTS = """return {title: document.title, h1: !!document.querySelector('h1'), text: document.body.innerText,
  links: [...document.querySelectorAll('a[href]')].map(a => a.href), ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  headings: Object.fromEntries([...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => [h.id, h.textContent.replace('¶', '').trim()])),
  height: document.documentElement.scrollHeight, has_app: !!document.querySelector('iframe[src$="try/index.html"]')};"""
WAIT_APP = """const done = arguments[arguments.length - 1], frame = document.querySelector('iframe[src$="try/index.html"]');
const wait = () => frame.contentWindow && frame.contentWindow.flowerclf ? frame.contentWindow.flowerclf.ready.then(() => done(true), () => done(false))
                                                                         : setTimeout(wait, 100);
wait();"""

class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args): pass

class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):          # the browser may drop a connection: not an error
        if not isinstance(sys.exc_info()[1], ConnectionError): super().handle_error(request, client_address)

def serve(site:Path):
    "Serve `site` on 127.0.0.1 (a free port) in a thread; returns the server and its base URL"
    server = Server(('127.0.0.1', 0), partial(Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f'http://127.0.0.1:{server.server_address[1]}/'

def chromium(profile:str):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in CHROMIUM_ARGS + [f'--user-data-dir={profile}']: opts.add_argument(a)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60); driver.set_script_timeout(60)
    return driver

def status(url:str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as r: return r.status
    except urllib.error.HTTPError as e: return e.code

def predict_api(cfg):
    "`flowerclf.predict.__all__` and {name: (page, anchor)} from nbdev's index, read from the source; None if no module"
    src, mod = cfg.lib_path/'predict.py', f'{cfg.lib_name}.predict'
    if not src.exists(): return None
    names = next((ast.literal_eval(n.value) for n in ast.parse(src.read_text()).body if isinstance(n, ast.Assign)
                  and any(getattr(t, 'id', '') == '__all__' for t in n.targets)), [])
    idx = ast.literal_eval(ast.parse((cfg.lib_path/'_modidx.py').read_text()).body[0].value)['syms'].get(mod, {})
    return names, {k[len(mod)+1:]: tuple(v[0].split('#')) for k, v in idx.items()}

class SiteTest:
    def __init__(self, driver, base:str, shots:Path):
        self.driver, self.base, self.shots = driver, base, shots
        self.passed, self.failed, self.pages = 0, [], {}

    def check(self, ok:bool, what:str):
        if ok: self.passed += 1
        else: self.failed.append(what); print(f'FAIL {what}')

    def visit(self, url:str):
        "Load a page; check it, its console and its images; screenshot it; remember its links, ids and text"
        d, page = self.driver, url[len(self.base):]
        d.get(url)
        images = d.execute_async_script(WAIT_IMAGES)
        facts = d.execute_script(PAGE_FACTS)
        self.check(bool(facts['title']) and facts['h1'], f'{page}: no title or no h1 heading')
        for src, w, h in images: self.check(w > 0 and h > 0, f'{page}: image {src} did not load ({w}x{h})')
        if facts['has_app']: d.execute_async_script(WAIT_APP)      # the Try it page: the app in its frame gets ready
        for e in d.get_log('browser'):
            if e['message'].endswith(XNNPACK_LINE): continue
            self.check(e['level'] not in ('SEVERE', 'ERROR'), f'{page}: console {e["level"]}: {e["message"]}')
        d.set_window_size(1440, min(facts['height'], 12000)); d.save_screenshot(str(self.shots/(page[:-5].replace('/', '_') + '.png')))
        d.set_window_size(1440, 900)
        print(f'page {page}: "{facts["title"]}", {len(images)} images, {len(facts["links"])} links')
        self.pages[url] = facts

    def crawl(self):
        "Visit every page reachable from index.html, then check every internal link and anchor"
        todo = [self.base + 'index.html']
        self.check(status(todo[0]) == 200, 'index.html: does not load')
        while todo:
            url = todo.pop(0)
            if url in self.pages: continue
            if status(url) != 200: continue            # reported with the page that links it, below
            self.visit(url)
            todo += [u for u in (urldefrag(l)[0] for l in self.pages[url]['links'])
                     if u.startswith(self.base) and u.endswith('.html') and u not in self.pages]
        codes = {}
        for url, facts in self.pages.items():
            for link in dict.fromkeys(facts['links']):
                target, anchor = urldefrag(link)
                if not target.startswith(self.base): continue
                where = url[len(self.base):]
                if target not in self.pages:
                    if target not in codes: codes[target] = status(target)
                    self.check(codes[target] == 200, f'{where}: broken link {link}')
                elif anchor: self.check(anchor in self.pages[target]['ids'], f'{where}: broken anchor {link}')

    def sidebar(self, nbs:Path):
        "The sidebar of the home page links every notebook in nbs/"
        self.driver.get(self.base + 'index.html')
        hrefs = {urldefrag(a.get_attribute('href'))[0] for a in self.driver.find_elements(By.CSS_SELECTOR, SIDEBAR)}
        for nb in nbglob(nbs, func=Path).sorted():
            page = _nbpath2html(Path(nb).relative_to(nbs)).as_posix()
            self.check(urljoin(self.base, page) in hrefs, f'sidebar: no link to {page} ({Path(nb).name})')

    def api(self, cfg):
        "Each name of `flowerclf.predict.__all__` is on its page: functions and classes as show_doc headings"
        found = predict_api(cfg)
        if found is None: return print(f'SKIP API check: {cfg.lib_path.name}/predict.py does not exist yet (notebook 06)')
        names, locs = found
        self.check(names and locs, f'API: no __all__ in predict.py or no {cfg.lib_name}.predict in _modidx.py (nbdev_export)')
        pages = [p for p, _ in locs.values()]
        page = max(set(pages), key=pages.count) if pages else 'predict.html'   # the module's page
        facts = self.pages.get(self.base + page)
        if facts is None: return self.check(False, f'API: page {page} of {cfg.lib_name}.predict was not built')
        for name in names:
            p, anchor = locs.get(name, (page, None))
            if anchor: self.check(self.pages.get(self.base + p, {}).get('headings', {}).get(anchor) == name,
                                  f'API: {p} has no show_doc heading #{anchor} for {name}')
            else: self.check(name in facts['text'], f'API: {page} does not mention {name} (in __all__)')
        print(f'API: {len(names)} names of {cfg.lib_name}.predict.__all__ checked on {page}')

def main(argv=None):
    cfg = get_config()
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--site', type=Path, default=cfg.doc_path, help='the built site (default: doc_path, _docs/)')
    ap.add_argument('--artifacts', type=Path, default=cfg.config_path/'_docs_artifacts', help='where screenshots go')
    args = ap.parse_args(argv)
    if not (args.site/'index.html').exists(): sys.exit(f'{args.site}/index.html not found: run python tools/build_docs.py')
    args.artifacts.mkdir(parents=True, exist_ok=True)
    server, base = serve(args.site)
    with tempfile.TemporaryDirectory() as profile:
        driver = chromium(profile)
        try:
            t = SiteTest(driver, base, args.artifacts)
            t.crawl(); t.sidebar(cfg.nbs_path); t.api(cfg)
        finally: driver.quit(); server.shutdown()
    print(f'screenshots in {args.artifacts}')
    print(f'docs: {t.passed} passed, {len(t.failed)} failed')
    if t.failed: sys.exit(1)

if __name__ == '__main__': main()
