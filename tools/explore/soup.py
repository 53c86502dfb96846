"""Combining fine-tuned runs of `ft.py` (their weights are kept in $FLOWERCLF_EXPLORE/cache/runs, their validation
predictions in cache/valprobs-TAG.npz), scored on the validation split as `ft.py` scores:

- a **soup**: the runs' weights averaged into one model (Wortsman et al., "Model soups", 2022): the phone's cost of one;
- an **ensemble**: the runs' predictions averaged: as many models to run on the phone as there are runs.

python tools/explore/soup.py --runs s224_a0.7_ls0.2_seed1,s224_a0.7_ls0.2_seed2
"""
import sys, argparse; sys.path.insert(0, __import__('os').path.dirname(__file__))
from common import *

p = argparse.ArgumentParser()
p.add_argument('--runs', required=True)                      # tags of ft.py runs at the same size, joined with ,
p.add_argument('--tag', default='')
a = p.parse_args()
tags = a.runs.split(',')
t0 = time.time()
rows = {r['tag']: r for r in map(json.loads, (EXP/'results.jsonl').read_text().splitlines()) if r.get('tag') in tags}
missing = [t for t in tags if t not in rows or not (CACHE/'runs'/f'{t}.weights.h5').exists()]
if missing: sys.exit(f"no saved run for {missing}: run ft.py with these tags first")
sizes = {rows[t]['args']['size'] for t in tags}
if len(sizes) != 1: sys.exit(f"the runs have different input sizes: {sorted(sizes)}")
S = sizes.pop()

model = tuned_model(S, rows[tags[0]]['args']['dropout'])
weights = []
for t in tags:
    model.load_weights(str(CACHE/'runs'/f'{t}.weights.h5')); weights.append(model.get_weights())
model.set_weights([np.mean(ws, 0) for ws in zip(*weights)])
soup, vy = predict_views(model, datasets(('validation',))['validation'].cache(), S, VIEWS)

ensemble = np.mean([np.load(CACHE/f'valprobs-{t}.npz')['probs'].astype(np.float32) for t in tags], 0)
res = dict(tag=a.tag or 'soup_' + '+'.join(tags), size=S, runs=tags, soup=view_scores(soup, vy),
           ensemble=view_scores(ensemble, vy), t_total=round(time.time() - t0))
with open(EXP/'results.jsonl', 'a') as f: f.write(json.dumps(res) + '\n')
log(f"{res['tag']}: soup val1 {res['soup']['val1']:.4f} tta10 {res['soup']['val_tta'][10]:.4f}; "
    f"ensemble val1 {res['ensemble']['val1']:.4f} tta10 {res['ensemble']['val_tta'][10]:.4f} ({res['t_total']}s)")
