"""Frozen-backbone levers: heads on cached features (views, sizes, normalisation, L2, dropout), scored on validation.

python tools/explore/frozen.py --size 192 --train_views c2r10 --norms none,std,l2 --l2s 1e-4,1e-3
"""
import sys, argparse, itertools; sys.path.insert(0, __import__('os').path.dirname(__file__))
from common import *
from flowerclf.training import fit_resumable, compile_model

p = argparse.ArgumentParser()
p.add_argument('--size', default='192')                 # one size or several joined with + (features of all)
p.add_argument('--train_views', default='c2r10')        # c2r4 | c2r10 | v20r10
p.add_argument('--norms', default='none')
p.add_argument('--l2s', default='1e-4')
p.add_argument('--dropouts', default='0.2')
p.add_argument('--lrs', default='1e-3')
p.add_argument('--bs', type=int, default=128)
p.add_argument('--tag', default='frozen')
a = p.parse_args()
VSETS = {'c2r4': (VIEWS[:2], 4), 'c2r10': (VIEWS[:2], 10), 'v20r10': (VIEWS, 10), 'v20r0': (VIEWS, 0)}
views, nr = VSETS[a.train_views]
sizes = [int(s) for s in a.size.split('+')]
t0 = time.time()
fx, fy, vfs = [], [], []
for S in sizes:
    f, y = feats('train', S, views, nr)
    fx.append(f.reshape(-1, 1280)); fy.append(np.tile(y, len(f)))
    vf, vy = feats('validation', S, VIEWS, 0); vfs.append(vf)
fx, fy = np.concatenate(fx), np.concatenate(fy)
t_feat = time.time() - t0

def head_model(norm, l2, dropout, lr, mean, std):
    keras.utils.set_random_seed(0)
    inp = keras.Input((1280,)); x = inp
    if norm == 'std': x = keras.layers.Normalization(mean=mean, variance=std ** 2)(x)
    if norm == 'l2': x = keras.layers.UnitNormalization()(x)
    if norm == 'l2s': x = keras.layers.Lambda(lambda t: 10.0 * tf.math.l2_normalize(t, -1))(x)  # scaled
    x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Dense(102, activation='softmax', kernel_regularizer=keras.regularizers.l2(l2) if l2 else None)(x)
    return compile_model(keras.Model(inp, x), lr)

mean, std = fx.mean(0), fx.std(0) + 1e-6
for norm, l2, dr, lr in itertools.product(a.norms.split(','), map(float, a.l2s.split(',')),
                                          map(float, a.dropouts.split(',')), map(float, a.lrs.split(','))):
    t = time.time()
    m = head_model(norm, l2, dr, lr, mean, std)
    run = fit_resumable(m, fx, fy, validation_data=(vfs[0][0], vy), epochs=200, patience=8, batch_size=a.bs)
    res = {}
    for S, vf in zip(sizes, vfs):
        pv = np.stack([m.predict(v, batch_size=2048, verbose=0) for v in vf])
        res[S] = (top1(pv[0], vy), {k: round(top1(pv[:k].mean(0), vy), 4) for k in (2, 10, 20)})
    allv = None
    if len(sizes) > 1:
        pv = np.concatenate([np.stack([m.predict(v, batch_size=2048, verbose=0) for v in vf]) for vf in vfs])
        allv = round(top1(pv.mean(0), vy), 4)
    desc = ' '.join(f"@{S}: val1 {r[0]:.4f} tta {r[1]}" for S, r in res.items())
    log(f"{a.tag} size {a.size} views {a.train_views} norm {norm} l2 {l2} drop {dr} lr {lr}: {desc}"
        f"{f' all-size tta {allv}' if allv else ''} epochs {run['best_epoch']} fit {time.time()-t:.0f}s feat {t_feat:.0f}s")
    with open(EXP/'results.jsonl', 'a') as f:
        f.write(json.dumps(dict(size=a.size, views=a.train_views, norm=norm, l2=l2, dropout=dr, lr=lr,
                                res={str(k): v for k, v in res.items()}, allv=allv, epochs=run['best_epoch'])) + '\n')
