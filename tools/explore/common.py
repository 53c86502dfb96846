"""Shared helpers of the exploration scripts behind the recipes (issue 11): `ft.py` (fine-tuning), `frozen.py`
(heads on a frozen backbone) and `soup.py` (fine-tuned runs combined). They score on the validation split only, and
append one JSON line per experiment to $FLOWERCLF_EXPLORE/results.jsonl (default /tmp/flowerclf-explore); their
features are cached there too. What they measured is `benchmarks/exploration.jsonl`, summarised in the training
notebook. Run from the repository root:

    python tools/explore/ft.py --size 192 --epochs 20 --lr 1e-3 --ls 0.2 --area 0.7
    python tools/explore/frozen.py --size 192 --train_views c2r4 --norms none,std,l2
    python tools/explore/soup.py --runs TAG1,TAG2
"""
import os, sys, time, json
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
from pathlib import Path
import numpy as np
import tensorflow as tf
import tf_keras as keras
from flowerclf.data import load_flowers
from flowerclf.pipeline import VIEWS, View, view_image, augment_image
from flowerclf.training import extract_features
from flowerclf.model import hub

from flowerclf.core import realdata
DATA = realdata()/'tfds'
ANY = str(realdata()/'backbones'/'mobilenet_v2_035_96_anysize')
EXP = Path(os.environ.get('FLOWERCLF_EXPLORE', '/tmp/flowerclf-explore')); CACHE = EXP/'cache'; CACHE.mkdir(parents=True, exist_ok=True)

def log(msg, path=EXP/'LOG.md'):
    "Append one line to LOG.md and print it"
    line = f"- {time.strftime('%H:%M')} {msg}"
    print(line, flush=True)
    with open(path, 'a') as f: f.write(line + '\n')

def datasets(splits=('train', 'validation', 'test')):
    ds, _ = load_flowers(DATA, splits=splits, download=False)
    return ds

def backbone(size, trainable=False):
    return hub.KerasLayer(ANY, trainable=trainable, input_shape=(size, size, 3), name='backbone')

def feats(split, size, views=(View(),), random_views=0, seed=0, tag=None, area=(0.5, 1.0)):
    "Cached features (n_views, n, 1280), labels"
    import hashlib
    key = tag or hashlib.sha1(repr((split, size, tuple(views), random_views, seed, area)).encode()).hexdigest()[:12]
    path = CACHE/f'f-{split}-{size}-{key}.npz'
    if path.exists():
        with np.load(path) as z: return z['features'], z['labels']
    ds = datasets((split,))[split]
    bb = backbone(size)
    t = time.time()
    if area == (0.5, 1.0):
        f, y = extract_features(bb, ds, size, views, random_views, batch_size=64, seed=seed)
    else:
        raise NotImplementedError
    np.savez(path, features=f, labels=y)
    print(f"features {split} {size}px {f.shape[0]} views: {time.time()-t:.0f}s", flush=True)
    return f, y

def top1(p, y): return float(np.mean(np.asarray(p).argmax(1) == y))
def top5(p, y): return float(np.mean((np.argsort(-p, 1)[:, :5] == y[:, None]).any(1)))

def tuned_model(size, dropout=0.2, cls=keras.Model):
    "The network `ft.py` fine-tunes: the backbone (trainable), dropout and a softmax classifier"
    inp = keras.Input((size, size, 3))
    x = keras.layers.Dropout(dropout)(backbone(size, trainable=True)(inp))
    return cls(inp, keras.layers.Dense(102, activation='softmax', name='classifier')(x))

def views_ds(d, size, views):
    return d.map(lambda x, y: (tf.stack([view_image(x, size, v) for v in views]), y), num_parallel_calls=tf.data.AUTOTUNE)

def predict_views(m, d, size, views, bs=64):
    "probs (n_views, n, 102), labels"
    ps, ys = [], []
    for x, y in views_ds(d, size, views).batch(max(1, bs // len(views))).prefetch(tf.data.AUTOTUNE):
        n = x.shape[0]
        p = m(tf.reshape(x, (-1, size, size, 3)), training=False).numpy().reshape(n, len(views), -1)
        ps.append(p); ys.append(y.numpy())
    return np.concatenate(ps).transpose(1, 0, 2), np.concatenate(ys)

def view_scores(pv, y):
    "Top-1 of the first view (`val1`) and of the first k views averaged (`val_tta`), from probs (n_views, n, 102)"
    return dict(val1=top1(pv[0], y), val_tta={k: top1(pv[:k].mean(0), y) for k in (2, 5, 10, 20)})
